"""Serving benchmark: one scikit-learn model behind ``mlflow models serve``, BentoML and
``mloop serve``, under the same load.

    .venv/bin/python benchmarks/serving.py                 # 3 rounds, c=16 and c=64, 10 s each
    .venv/bin/python benchmarks/serving.py --quick         # a smoke run: 1 round of 3 s
    .venv/bin/python benchmarks/serving.py --only mloop    # skip the peers (or mlflow, bentoml)
    .venv/bin/python benchmarks/serving.py --json          # also write results/serving-<date>.json

The model is a logistic regression over 8 float features, fitted by each side in its own venv
from the same data (the same model: the script checks that all sides give the same
predictions for the same 64 rows). Peers run in their own virtual environments under
``benchmarks/.venvs`` (``mlflow`` from ``requirements-mlflow.txt``, shared with
``tracking.py``; ``bentoml`` from ``requirements-bentoml.txt``), created when missing, with
telemetry off. One server at a time: each is started, waited for until it answers and its
processes go quiet, measured at each concurrency, and stopped; the servers take turns in
``--rounds`` rounds (the order rotating) so that drift of this shared machine falls on all.

The load generator is one aiohttp client process (on uvloop when installed): ``c`` tasks
over ``c`` keep-alive connections send single-row requests back to back for ``--seconds``
after ``--warmup`` seconds. mloop and MLflow get the same bytes (MLflow's scoring format,
``dataframe_split``); BentoML its own JSON (``{"rows": [[...]]}``). Every figure is recorded
with the load average and the CPU time of the client and of the server's processes.
mloop logs every request to its inference log: after each mloop phase the script counts the
log's records inside each timed window and compares them with the answers received.
It reports only: no figure makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
PROJECT_PYTHON = Path(sys.executable)
PROJECT_BIN = PROJECT_PYTHON.parent
FEATURES = [f"f{i}" for i in range(8)]
TRAIN_ROWS = 1000
POOL_ROWS = 512  # distinct request bodies, sent in turn
CHECK_ROWS = 64  # rows every side predicts once, to show it is the same model
# The targets, shown beside the figures.
TARGET_MLFLOW_RATIO = 5.0
TARGET_P99_MS_C16 = 20.0
ALL_SERVERS = ("mloop", "mlflow", "bentoml")

console = Console(stderr=True, width=160)


# -- processes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group, stopped (SIGTERM, then SIGKILL) on the way out."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        started_here = _tree(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Workers in sessions of their own may outlive the parent: the next server must start
        # on a quiet machine.
        deadline = time.monotonic() + 10
        while (started_here & set(_proc_table())) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in started_here & set(_proc_table()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _proc_table() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, process group, CPU seconds) of every live process (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":  # state, ppid, pgrp, ...
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), cpu)
    return table


def _tree(root: int) -> set[int]:
    """The live processes started from ``root``: its process group, and its descendants
    (BentoML's supervisor starts its workers in sessions of their own)."""
    table = _proc_table()
    found = {pid for pid, (_, pgrp, _) in table.items() if pgrp == root}
    if root in table:
        found.add(root)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _group_cpu_seconds(root: int) -> float | None:
    """CPU seconds used so far by the live processes started from ``root``, or None."""
    table = _proc_table()
    pids = _tree(root) & set(table)
    if not pids:
        return None
    return sum(table[pid][2] for pid in pids)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> float:
    """Seconds until ``url`` answered 200."""
    import urllib.error
    import urllib.request

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: the server exited:\n{log.read_text(errors='replace')[-3000:]}"
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _wait_idle(pgid: int, timeout: float = 60) -> dict[str, Any]:
    """Wait until the server's processes use under 5% of a core for two 0.5 s windows
    running, so that start-up work is not measured; say how long it took."""
    started = time.monotonic()
    previous = _group_cpu_seconds(pgid)
    quiet = 0
    last = None
    while previous is not None and quiet < 2 and time.monotonic() - started < timeout:
        time.sleep(0.5)
        current = _group_cpu_seconds(pgid)
        if current is None:
            break
        last = (current - previous) / 0.5
        quiet = quiet + 1 if last < 0.05 else 0
        previous = current
    return {"idle_after_s": time.monotonic() - started, "settled": quiet >= 2, "cpu_share": last}


# -- peer venvs ---------------------------------------------------------------------------


def _ensure_venv(name: str, requirements: Path) -> Path:
    """``benchmarks/.venvs/NAME`` with ``requirements`` installed; reinstalled when the file
    changes (the same SHA-256 stamp as ``tracking.py``'s MLflow venv). Needs the package
    index the first time, never during a run."""
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    if not python.exists():
        interpreter = shutil.which("python3.11") or sys.executable
        console.print(f"[dim]creating {venv} with {interpreter}[/]")
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    console.print(f"[dim]installing {requirements.name} into {venv} ...[/]")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        check=True,
        timeout=1800,
    )
    stamp.write_text(digest + "\n")
    return python


def _clean_env(venv_bin: Path, **extra: str) -> dict[str, str]:
    """This environment without any MLOOP_/MLFLOW_/BENTOML_ settings, plus ``extra``, as in
    a shell where ``venv_bin``'s venv is activated (``mlflow models serve`` runs the
    ``uvicorn`` it finds on PATH); telemetry and analytics off for every side."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLOOP_", "MLFLOW_", "BENTOML_", "PYTHONPATH"))
    }
    env.update(
        PYTHONUNBUFFERED="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="true",
        DO_NOT_TRACK="1",
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(venv_bin.parent),
    )
    env.update(extra)
    return env


def _run_json(cmd: list[str], env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the data and the requests ------------------------------------------------------------


def _write_data(tmp: Path) -> tuple[Path, np.ndarray]:
    """Training data (fixed seed) for every side, and the rows the requests carry."""
    rng = np.random.default_rng(20261206)
    x = rng.normal(size=(TRAIN_ROWS, len(FEATURES))).round(6)
    weights = rng.normal(size=len(FEATURES))
    y = (x @ weights + 0.5 * rng.normal(size=TRAIN_ROWS) > 0).astype(int)
    path = tmp / "data.json"
    path.write_text(json.dumps({"columns": FEATURES, "X": x.tolist(), "y": y.tolist()}))
    pool = rng.normal(size=(POOL_ROWS, len(FEATURES))).round(6)
    return path, pool


def _mlflow_body(rows: np.ndarray) -> bytes:
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": rows.tolist()}}).encode()


def _bentoml_body(rows: np.ndarray) -> bytes:
    return json.dumps({"rows": rows.tolist()}).encode()


def _predictions(payload: Any) -> list[Any]:
    return list(payload["predictions"] if isinstance(payload, dict) else payload)


# -- the servers --------------------------------------------------------------------------


@dataclass
class Server:
    """How to start one side, and what to send it."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    ready_path: str
    invoke_path: str
    body: Any  # rows -> request body
    port: int
    versions: dict[str, Any] = field(default_factory=dict)
    answered: int = 0  # responses received from it, warm-ups and checks included

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _mloop_server(tmp: Path, data: Path, workers: int) -> Server:
    home = tmp / "mloop-home"
    env = _clean_env(PROJECT_BIN, MLOOP_HOME=str(home))
    console.print("[dim]mloop: fitting, logging, registering and deploying the model[/]")
    info = _run_json(
        [str(PROJECT_PYTHON), str(BENCH_DIR / "_serving_mloop.py"), "prepare", str(data)], env
    )
    port = _free_port()
    cmd = [str(PROJECT_BIN / "mloop"), "serve", info["endpoint"], "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    from importlib.metadata import version

    info["mloop"] = version("mloop")
    return Server("mloop", cmd, env, "/ping", "/invocations", _mlflow_body, port, info)


def _mlflow_server(tmp: Path, data: Path, workers: int) -> Server:
    python = _ensure_venv("mlflow", BENCH_DIR / "requirements-mlflow.txt")
    env = _clean_env(python.parent)
    model_dir = tmp / "mlflow-model"
    console.print("[dim]MLflow: fitting and saving the model[/]")
    info = _run_json(
        [str(python), str(BENCH_DIR / "_serving_mlflow.py"), str(data), str(model_dir)], env
    )
    port = _free_port()
    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir)]
    cmd += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    return Server("mlflow", cmd, env, "/ping", "/invocations", _mlflow_body, port, info)


def _bentoml_server(tmp: Path, data: Path, workers: int, batchable: bool) -> Server:
    python = _ensure_venv("bentoml", BENCH_DIR / "requirements-bentoml.txt")
    env = _clean_env(python.parent, BENTOML_HOME=str(tmp / "bentoml-home"))
    model = tmp / "bentoml-model.joblib"
    console.print("[dim]BentoML: fitting and saving the model[/]")
    side = BENCH_DIR / "_serving_bentoml.py"
    info = _run_json([str(python), str(side), str(data), str(model)], env)
    info["bentoml"] = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('bentoml'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    info["batchable"] = batchable
    port = _free_port()
    cmd = [str(python.parent / "bentoml"), "serve", "_serving_bentoml:Classifier"]
    cmd += ["--working-dir", str(BENCH_DIR), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--arg", f"model={model}", "--arg", f"workers={workers}"]
    cmd += ["--arg", f"batchable={'true' if batchable else 'false'}"]
    return Server("bentoml", cmd, env, "/readyz", "/predict", _bentoml_body, port, info)


# -- load ---------------------------------------------------------------------------------


@dataclass
class Window:
    latencies_ms: list[float] = field(default_factory=list)
    ok: int = 0
    bad_status: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    elapsed_s: float = 0.0


async def _phase(
    session: aiohttp.ClientSession, url: str, bodies: list[bytes], concurrency: int, seconds: float
) -> Window:
    """``concurrency`` tasks sending requests back to back until ``seconds`` have passed;
    every request started is awaited, so the window ends when the last answer is in."""
    window = Window()
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += concurrency
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                # Dropped connections are counted, never fatal; aiohttp opens a new one.
                window.errors[type(exc).__name__] += 1
                if window.ok == 0 and sum(window.errors.values()) > 200:
                    return  # the server is gone: do not spin
                continue
            window.latencies_ms.append((time.perf_counter() - sent) * 1000)
            if status == 200:
                window.ok += 1
            else:
                window.bad_status[status] += 1

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    window.elapsed_s = time.perf_counter() - started
    return window


async def _drive(
    url: str, bodies: list[bytes], concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = await _phase(session, url, bodies, concurrency, warmup)
        # A pause either side of the timed window, so that the inference log's records (times
        # in whole milliseconds) of warm-up requests fall outside it.
        await asyncio.sleep(0.02)
        load_before = os.getloadavg()
        cpu_before = time.process_time()
        start_ms = int(time.time() * 1000)
        window = await _phase(session, url, bodies, concurrency, seconds)
        end_ms = int(time.time() * 1000)
        client_cpu = time.process_time() - cpu_before
        load_after = os.getloadavg()
        await asyncio.sleep(0.02)
    lat = sorted(window.latencies_ms)
    return {
        "concurrency": concurrency,
        "ok": window.ok,
        "elapsed_s": window.elapsed_s,
        "throughput_rps": window.ok / window.elapsed_s if window.elapsed_s else 0.0,
        "p50_ms": _pct(lat, 50),
        "p90_ms": _pct(lat, 90),
        "p99_ms": _pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "bad_status": {str(k): v for k, v in window.bad_status.items()},
        "errors": dict(window.errors),
        "warmup_responses": len(warm.latencies_ms),
        "warmup_errors": dict(warm.errors),
        "client_cpu_s": client_cpu,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "window_ms": [start_ms, end_ms],
    }


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _run_async(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def _post(url: str, body: bytes) -> Any:
    async with aiohttp.ClientSession() as session:
        headers = {"content-type": "application/json"}
        async with session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {text[:500]}")
            return json.loads(text)


# -- one server's turn --------------------------------------------------------------------


def _turn(server: Server, tmp: Path, pool: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Start ``server``, check it, measure it at each concurrency, stop it."""
    log = tmp / f"{server.name}.log"
    out: dict[str, Any] = {"measurements": []}
    bodies = [server.body(pool[i : i + 1]) for i in range(len(pool))]
    with _process(server.cmd, server.env, log) as proc:
        out["ready_s"] = _wait_ready(server.url(server.ready_path), proc, log, args.start_timeout)
        out["idle"] = _wait_idle(proc.pid)
        invoke = server.url(server.invoke_path)
        answer = _run_async(_post(invoke, server.body(pool[:CHECK_ROWS])))
        server.answered += 1
        out["check_predictions"] = _predictions(answer)
        for concurrency in args.concurrency:
            cpu_before = _group_cpu_seconds(proc.pid) or 0.0
            got = _run_async(_drive(invoke, bodies, concurrency, args.seconds, args.warmup))
            got["server_cpu_s"] = (_group_cpu_seconds(proc.pid) or 0.0) - cpu_before
            server.answered += got["ok"] + sum(got["bad_status"].values())
            server.answered += got["warmup_responses"]
            console.print(
                f"  {server.name:8} c={concurrency:<3} {got['throughput_rps']:8.1f} req/s  "
                f"p50 {got['p50_ms'] or 0:7.2f} ms  p99 {got['p99_ms'] or 0:7.2f} ms  "
                f"errors {sum(got['errors'].values()) + sum(got['bad_status'].values())}  "
                f"load {got['loadavg_after'][0]:.2f}"
            )
            out["measurements"].append(got)
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited under load; see {log}")
    return out


def _mloop_log_check(server: Server, windows: list[list[int]], tmp: Path) -> dict[str, Any]:
    """What mloop's inference log holds after its server stopped cleanly."""
    path = tmp / "windows.json"
    path.write_text(json.dumps(windows))
    cmd = [str(PROJECT_PYTHON), str(BENCH_DIR / "_serving_mloop.py"), "count", str(path)]
    found = _run_json(cmd, server.env)
    found["answered"] = server.answered
    return found


def _append_rate(tmp: Path, records: int) -> dict[str, Any]:
    env = _clean_env(PROJECT_BIN, MLOOP_HOME=str(tmp / "append-home"))
    cmd = [str(PROJECT_PYTHON), str(BENCH_DIR / "_serving_mloop.py"), "append", str(records)]
    load_before = os.getloadavg()
    got = _run_json(cmd, env)
    got["loadavg_before"] = load_before
    got["loadavg_after"] = os.getloadavg()
    return got


# -- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mloop-serving-bench-"))
    results: dict[str, Any] = {"rounds": [], "servers": {}}
    try:
        data, pool = _write_data(tmp)
        builders = {
            "mloop": lambda: _mloop_server(tmp, data, args.workers),
            "mlflow": lambda: _mlflow_server(tmp, data, args.workers),
            "bentoml": lambda: _bentoml_server(tmp, data, args.workers, args.bentoml_batchable),
        }
        servers = [builders[name]() for name in ALL_SERVERS if name in args.only]
        for server in servers:
            results["servers"][server.name] = {"versions": server.versions, "cmd": server.cmd}
        for r in range(args.rounds):
            order = servers[r % len(servers) :] + servers[: r % len(servers)]
            round_out: dict[str, Any] = {}
            for server in order:
                console.print(f"[bold]round {r + 1}/{args.rounds}: {server.name}[/]")
                round_out[server.name] = _turn(server, tmp, pool, args)
            results["rounds"].append(round_out)
        results["same_model"] = _same_model(results["rounds"][0])
        mloop = next((s for s in servers if s.name == "mloop"), None)
        if mloop is not None:
            windows = [
                m["window_ms"] for rnd in results["rounds"] for m in rnd["mloop"]["measurements"]
            ]
            console.print("[dim]counting mloop's inference log[/]")
            results["inference_log"] = _mloop_log_check(mloop, windows, tmp)
            if args.append_records:
                console.print(f"[dim]inference log append rate ({args.append_records} records)[/]")
                results["append_rate"] = _append_rate(tmp, args.append_records)
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _same_model(first_round: dict[str, Any]) -> dict[str, Any]:
    predictions = {name: turn["check_predictions"] for name, turn in first_round.items()}
    names = list(predictions)
    reference = predictions[names[0]]
    agree = {
        name: sum(int(a) == int(b) for a, b in zip(reference, p, strict=True)) / len(reference)
        for name, p in predictions.items()
    }
    return {"rows": len(reference), "agreement_with_" + names[0]: agree}


# -- the report ---------------------------------------------------------------------------


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per server and concurrency: median and range over rounds of each figure."""
    out: dict[str, Any] = {}
    for name in results["servers"]:
        per_c: dict[str, Any] = {}
        measured = [m for rnd in results["rounds"] for m in rnd[name]["measurements"]]
        for c in sorted({m["concurrency"] for m in measured}):
            ms = [m for m in measured if m["concurrency"] == c]
            answered = sum(m["ok"] for m in ms) or 1
            errors: collections.Counter[str] = collections.Counter()
            for m in ms:
                errors.update(m["errors"])
                errors.update({f"HTTP {k}": v for k, v in m["bad_status"].items()})
            per_c[str(c)] = {
                "throughput_rps": _spread([m["throughput_rps"] for m in ms]),
                "p50_ms": _spread([m["p50_ms"] for m in ms if m["p50_ms"] is not None]),
                "p99_ms": _spread([m["p99_ms"] for m in ms if m["p99_ms"] is not None]),
                "requests": sum(m["ok"] for m in ms),
                "errors": dict(errors),
                "client_cpu_ms_per_request": 1000 * sum(m["client_cpu_s"] for m in ms) / answered,
                "server_cpu_ms_per_request": 1000 * sum(m["server_cpu_s"] for m in ms) / answered,
                "client_cpu_share": sum(m["client_cpu_s"] for m in ms)
                / sum(m["elapsed_s"] for m in ms),
                "loadavg_1m": _spread(
                    [x for m in ms for x in (m["loadavg_before"][0], m["loadavg_after"][0])]
                ),
                "rounds": len(ms),
            }
        out[name] = per_c
    return out


def _ratios(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "mloop" not in summary:
        return out
    for c, m in summary["mloop"].items():
        row: dict[str, Any] = {"mloop_p99_ms": m["p99_ms"]["median"]}
        for peer in ("mlflow", "bentoml"):
            if peer in summary and c in summary[peer]:
                p = summary[peer][c]
                row[f"throughput_vs_{peer}"] = (
                    m["throughput_rps"]["median"] / p["throughput_rps"]["median"]
                )
                row[f"{peer}_p99_ms"] = p["p99_ms"]["median"]
        out[c] = row
    return out


def report(results: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(results)
    ratios = _ratios(summary)
    out = Console(width=160)
    for c in sorted({c for per_c in summary.values() for c in per_c}, key=int):
        table = Table(
            title=f"single-row requests at concurrency {c} (median [min-max] over rounds)"
        )
        for col in (
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "client CPU",
            "server CPU",
            "load 1m",
        ):
            table.add_column(col, justify="left" if col == "server" else "right")
        for name, per_c in summary.items():
            s = per_c.get(c)
            if s is None:
                continue
            tp, p50, p99 = s["throughput_rps"], s["p50_ms"], s["p99_ms"]
            table.add_row(
                name,
                f"{tp['median']:.0f} [{tp['min']:.0f}-{tp['max']:.0f}]",
                f"{p50['median']:.1f} [{p50['min']:.1f}-{p50['max']:.1f}]",
                f"{p99['median']:.1f} [{p99['min']:.1f}-{p99['max']:.1f}]",
                ", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "0",
                f"{s['client_cpu_ms_per_request']:.2f} ms/req",
                f"{s['server_cpu_ms_per_request']:.2f} ms/req",
                f"{s['loadavg_1m']['min']:.1f}-{s['loadavg_1m']['max']:.1f}",
            )
        out.print(table)
    for c, row in ratios.items():
        parts = [f"c={c}: mloop p99 {row['mloop_p99_ms']:.1f} ms"]
        for peer in ("mlflow", "bentoml"):
            if f"throughput_vs_{peer}" in row:
                parts.append(
                    f"mloop/{peer} throughput {row[f'throughput_vs_{peer}']:.2f}x "
                    f"({peer} p99 {row[f'{peer}_p99_ms']:.1f} ms)"
                )
        out.print("; ".join(parts))
    targets: dict[str, Any] = {}
    c16 = ratios.get("16", {})
    if "throughput_vs_mlflow" in c16:
        targets["throughput_vs_mlflow_at_least_5x"] = (
            c16["throughput_vs_mlflow"] >= TARGET_MLFLOW_RATIO
        )
    if "throughput_vs_bentoml" in c16:
        targets["ahead_of_bentoml"] = c16["throughput_vs_bentoml"] > 1.0
    if c16:
        targets["p99_under_20ms_at_c16"] = c16["mloop_p99_ms"] < TARGET_P99_MS_C16
    if targets:
        out.print(
            "targets at c=16: "
            + ", ".join(f"{k}: {'met' if v else 'missed'}" for k, v in targets.items())
        )
    if "same_model" in results:
        out.print(f"same model: {results['same_model']}")
    log = results.get("inference_log")
    if log:
        measured = [m["ok"] for rnd in results["rounds"] for m in rnd["mloop"]["measurements"]]
        every = log["records"] == log["answered"] and log["in_windows"] == measured
        out.print(
            f"mloop inference log: {log['records']} records for {log['answered']} answered "
            f"requests ({log['distinct_request_ids']} distinct ids, {log['by_status']}); in the "
            f"timed windows {sum(log['in_windows'])} records for {sum(measured)} answers: "
            f"{'every request logged' if every else 'MISMATCH'}"
        )
        log["every_request_logged"] = every
    rate = results.get("append_rate")
    if rate:
        out.print(
            f"inference log append rate: InferenceLog.record {rate['record_per_s']:,.0f}/s, "
            f"end to end {rate['end_to_end_per_s']:,.0f}/s ({rate['records']} records, "
            f"{rate['dropped']} dropped)"
        )
    return {"summary": summary, "ratios": ratios, "targets": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds before each")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes")
    parser.add_argument("--concurrency", default="16,64", help="comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="server processes, every side")
    parser.add_argument("--only", default=",".join(ALL_SERVERS), help="mloop, mlflow, bentoml")
    parser.add_argument(
        "--bentoml-batchable", action="store_true", help="BentoML's adaptive batching on"
    )
    parser.add_argument(
        "--append-records", type=int, default=50_000, help="inference log append test (0: skip)"
    )
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--json", nargs="?", const="", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.rounds, args.append_records = 3.0, 1.0, 1, 10_000
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.only = {x.strip() for x in args.only.split(",")}
    unknown = args.only - set(ALL_SERVERS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; use {', '.join(ALL_SERVERS)}")
    # A SIGTERM stops the servers too (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    load_start = os.getloadavg()
    results = run(args)
    derived = report(results)
    if args.json is not None:
        path = (
            Path(args.json)
            if args.json
            else RESULTS_DIR / f"serving-{dt.date.today().isoformat()}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        commit = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        payload = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "note": "a 2-core VM shared with other jobs: every figure carries the load "
                "average (os.getloadavg) around it",
            },
            "commit": commit,
            "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
            "duration_s": time.time() - started,
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "settings": {
                "seconds": args.seconds,
                "warmup": args.warmup,
                "rounds": args.rounds,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "bentoml_batchable": args.bentoml_batchable,
                "client": "aiohttp " + aiohttp.__version__,
            },
            **results,
            **derived,
        }
        path.write_text(json.dumps(payload, indent=2))
        console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
