"""Tracking benchmark: mloop against MLflow, both as servers on loopback, on this machine.

    .venv/bin/python benchmarks/tracking.py            # full sizes
    .venv/bin/python benchmarks/tracking.py --quick    # smoke run
    .venv/bin/python benchmarks/tracking.py --only mlflow --json

Creates ``benchmarks/.venvs/mlflow`` (MLflow pinned in ``requirements-mlflow.txt``) when it is
missing, starts each server on a fresh SQLite store in a temporary directory, runs the same
workloads against both (the MLflow client in its own venv through ``_mlflow_side.py``, the mloop
client in this process) and prints a table of figures and ratios. It reports only: no figure
makes it fail. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import mloop

BENCH_DIR = Path(__file__).resolve().parent
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_REQUIREMENTS = BENCH_DIR / "requirements-mlflow.txt"
MLFLOW_SIDE = BENCH_DIR / "_mlflow_side.py"
RESULTS_DIR = BENCH_DIR / "results"
REQUIREMENTS_STAMP = MLFLOW_VENV / ".requirements-sha256"

HEALTH_TIMEOUT_S = 180.0
SETTLE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
SETUP_THREADS = 4
BATCH_KEYS = 10
SEARCH_SEED = 20240611
SEARCH_FILTER = "metrics.auc > 0.8 and params.model = 'lgbm' and tags.team = 'risk'"
SEARCH_ORDER = ["metrics.auc DESC"]
SEARCH_MAX_RESULTS = 1000
BASE_TS_MS = 1_700_000_000_000
MODEL_NAME = "bench-model"
ALIAS = "champion"

console = Console(stderr=True)


@dataclass(frozen=True)
class Sizes:
    calls: int = 2000
    batch_metrics: int = 100_000
    runs: int = 200
    search_runs: int = 10_000
    search_repeats: int = 20
    lookups: int = 500
    script_runs: int = 20
    script_steps: int = 50


QUICK = Sizes(
    calls=200,
    batch_metrics=10_000,
    runs=20,
    search_runs=1000,
    lookups=50,
    script_runs=5,
    script_steps=10,
)


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    console.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/dim] {escape(message)}")


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Milliseconds taken by each of ``repeats`` calls of ``fn``."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def search_rows(count: int) -> list[dict[str, Any]]:
    """The runs the search workload runs over; the same for both sides (fixed seed)."""
    rng = random.Random(SEARCH_SEED)
    return [
        {
            "model": rng.choice(["lgbm", "xgb", "rf", "lr"]),
            "auc": rng.random(),
            "team": rng.choice(["risk", "growth"]),
        }
        for _ in range(count)
    ]


def expected_matches(rows: list[dict[str, Any]]) -> int:
    hits = sum(r["auc"] > 0.8 and r["model"] == "lgbm" and r["team"] == "risk" for r in rows)
    return min(int(hits), SEARCH_MAX_RESULTS)


# --------------------------------------------------------------------------- MLflow venv


def requirements_digest() -> str:
    return hashlib.sha256(MLFLOW_REQUIREMENTS.read_bytes()).hexdigest()


def ensure_mlflow_venv() -> Path:
    """Create the MLflow venv if missing and (re)install when the pins changed; return python."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        interpreter = shutil.which("python3.11") or sys.executable
        log(f"creating {MLFLOW_VENV} with {interpreter}")
        subprocess.run([interpreter, "-m", "venv", str(MLFLOW_VENV)], check=True)
    digest = requirements_digest()
    stamp = REQUIREMENTS_STAMP.read_text().strip() if REQUIREMENTS_STAMP.exists() else ""
    if stamp != digest:
        log(f"installing {MLFLOW_REQUIREMENTS.name} into {MLFLOW_VENV}")
        pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(MLFLOW_REQUIREMENTS)]
        subprocess.run(pip, check=True)
        REQUIREMENTS_STAMP.write_text(digest + "\n")
    return python


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for_health(server: Server) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} server exited with {server.process.returncode}:\n"
                + server.log_tail()
            )
        if health_ok(server.url):
            return
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} server not healthy after {HEALTH_TIMEOUT_S:.0f} s")


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU time used so far by the live processes of a process group (Linux /proc), or None."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            found = True
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total if found else None


def wait_until_idle(server: Server) -> None:
    """Let a server finish its start-up work (imports, worker processes) before measuring:
    wait until its processes use under 5% of a core for two 0.5 s windows running."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = group_cpu_seconds(server.process.pid)
    quiet = 0
    while previous is not None and quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        current = group_cpu_seconds(server.process.pid)
        if current is None:
            return
        quiet = quiet + 1 if current - previous < 0.025 else 0
        previous = current


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_server(server: Server) -> None:
    """Terminate the server's whole process group (it was started in its own session):
    SIGTERM, then SIGKILL for whatever is left after STOP_TIMEOUT_S or on a second Ctrl-C."""
    pgid = server.process.pid
    try:
        signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while group_alive(pgid) and time.monotonic() < deadline:
            server.process.poll()  # reap the leader so the group can empty
            time.sleep(0.1)
    finally:
        if group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
        server.process.wait()
        log(f"{server.name} server stopped")


@contextlib.contextmanager
def running_server(
    name: str, command: list[str], port: int, env: dict[str, str], workdir: Path
) -> Iterator[Server]:
    """Start a server writing to ``workdir/<name>.log``, wait for /health, always stop it."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        t0 = time.perf_counter()
        wait_for_health(server)
        log(f"{name} server healthy at {server.url} ({time.perf_counter() - t0:.1f} s)")
        wait_until_idle(server)
        log(f"{name} server idle ({time.perf_counter() - t0:.1f} s after start)")
        yield server
    finally:
        stop_server(server)


def options(pairs: dict[str, object]) -> list[str]:
    return [str(item) for pair in pairs.items() for item in pair]


def mlflow_server_command(python: Path, workdir: Path, port: int) -> list[str]:
    return [
        str(python.parent / "mlflow"),
        "server",
        *options(
            {
                "--backend-store-uri": mlflow_backend_uri(workdir),
                "--default-artifact-root": workdir / "mlflow-artifacts",
                "--host": "127.0.0.1",
                "--port": port,
                "--workers": 1,
            }
        ),
    ]


def mlflow_backend_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


def mloop_server_command(port: int) -> list[str]:
    mloop_bin = Path(sys.executable).parent / "mloop"
    return [str(mloop_bin), "server", *options({"--host": "127.0.0.1", "--port": port})]


# --------------------------------------------------------------------------- MLflow side


def run_mlflow_side(
    python: Path, server: Server, backend_uri: str | None, sizes: Sizes, rows_path: Path
) -> dict[str, Any]:
    """The MLflow client's workloads against ``server``; without ``backend_uri`` the search
    data is created through the REST API."""
    arguments: dict[str, object] = {
        "--uri": server.url,
        "--calls": sizes.calls,
        "--batch-metrics": sizes.batch_metrics,
        "--runs": sizes.runs,
        "--search-data": rows_path,
        "--search-repeats": sizes.search_repeats,
        "--lookups": sizes.lookups,
        "--script-runs": sizes.script_runs,
        "--script-steps": sizes.script_steps,
    }
    if backend_uri is not None:
        arguments["--backend-uri"] = backend_uri
    command = [str(python), str(MLFLOW_SIDE), *options(arguments)]
    # No telemetry: nothing in a benchmark run may reach beyond loopback.
    env = {
        **os.environ,
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return dict(json.loads(lines[-1]))


def bench_mlflow(sizes: Sizes, rows: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    python = ensure_mlflow_venv()
    rows_path = workdir / "search-rows.json"
    rows_path.write_text(json.dumps(rows))
    port = free_port()
    command = mlflow_server_command(python, workdir, port)
    # The job runner (a pool of huey consumers for GenAI jobs) plays no part in tracking.
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    with running_server("mlflow", command, port, env, workdir) as server:
        return run_mlflow_side(python, server, mlflow_backend_uri(workdir), sizes, rows_path)


def bench_mlflow_client_on_mloop(
    sizes: Sizes, rows: list[dict[str, Any]], workdir: Path
) -> dict[str, Any]:
    """The same MLflow client script, pointed at an mloop server (its MLflow-compatible API)."""
    python = ensure_mlflow_venv()
    rows_path = workdir / "search-rows.json"
    rows_path.write_text(json.dumps(rows))
    home = workdir / "mloop-home"
    home.mkdir()
    env = {**os.environ, "MLOOP_HOME": str(home)}
    env.pop("MLOOP_TRACKING_URI", None)
    port = free_port()
    with running_server("mloop", mloop_server_command(port), port, env, workdir) as server:
        return run_mlflow_side(python, server, None, sizes, rows_path)


# --------------------------------------------------------------------------- mloop side


def mloop_logging(calls: int) -> dict[str, Any]:
    mloop.set_experiment("bench-logging")
    with mloop.start_run():
        t0 = time.perf_counter()
        for i in range(calls):
            mloop.log_metric("loss", 1.0 / (i + 1), step=i)
        mloop.flush()
        elapsed = time.perf_counter() - t0
    return {"calls": calls, "calls_per_s": calls / elapsed}


def mloop_batch(client: mloop.Client, total: int) -> dict[str, Any]:
    experiment_id = mloop.set_experiment("bench-batch").experiment_id
    metrics = [
        mloop.Metric(
            key=f"m{k}", value=float(step * BATCH_KEYS + k), timestamp=BASE_TS_MS + step, step=step
        )
        for step in range(total // BATCH_KEYS)
        for k in range(BATCH_KEYS)
    ]
    run_id = client.create_run(experiment_id).info.run_id
    t0 = time.perf_counter()
    client.log_batch(run_id, metrics=metrics)
    elapsed = time.perf_counter() - t0
    client.set_terminated(run_id)
    return {"metrics": len(metrics), "metrics_per_s": len(metrics) / elapsed}


def mloop_runs(runs: int) -> dict[str, Any]:
    mloop.set_experiment("bench-runs")
    params = {f"p{i}": f"value-{i}" for i in range(10)}
    metrics = {f"m{i}": float(i) for i in range(10)}
    t0 = time.perf_counter()
    for _ in range(runs):
        with mloop.start_run():
            mloop.log_params(params)
            mloop.log_metrics(metrics)
    mloop.flush()
    return {"runs": runs, "runs_per_s": runs / (time.perf_counter() - t0)}


def mloop_create_search_run(client: mloop.Client, experiment_id: str, row: dict[str, Any]) -> None:
    run_id = client.create_run(experiment_id, tags={"team": row["team"]}).info.run_id
    client.log_batch(
        run_id,
        metrics=[mloop.Metric(key="auc", value=row["auc"], timestamp=BASE_TS_MS, step=0)],
        params=[mloop.Param(key="model", value=row["model"])],
    )


def mloop_populate_search(
    client: mloop.Client, experiment_id: str, rows: list[dict[str, Any]]
) -> None:
    """create_run + log_batch per row, with a few threads (as the MLflow side's REST path)."""
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        created = pool.map(lambda row: mloop_create_search_run(client, experiment_id, row), rows)
        for done, _ in enumerate(created, 1):
            if done % 1000 == 0:
                log(f"mloop: search setup {done}/{len(rows)} runs")


def mloop_search(client: mloop.Client, rows: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    experiment_id = mloop.set_experiment("bench-search").experiment_id
    t0 = time.perf_counter()
    mloop_populate_search(client, experiment_id, rows)
    setup_s = time.perf_counter() - t0

    def search() -> int:
        found: Any = client.search_runs(
            experiment_ids=[experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=SEARCH_ORDER,
            max_results=SEARCH_MAX_RESULTS,
        )
        return len(getattr(found, "runs", found))  # a page of runs, or a list of them

    matches = search()  # warm-up, and the number of matches to compare with MLflow
    samples = time_calls(search, repeats)
    return {
        "runs": len(rows),
        "setup": "rest",
        "setup_s": setup_s,
        "matches": matches,
        "median_ms": statistics.median(samples),
        "samples_ms": samples,
    }


def register_tiny_model(client: mloop.Client) -> int:
    """Log a tiny scikit-learn model in a run, register it, point the alias at it."""
    from sklearn.linear_model import LogisticRegression

    import mloop.sklearn

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    mloop.set_experiment("bench-models")
    with mloop.start_run() as run:
        mloop.sklearn.log_model(model, "model")
    client.create_registered_model(MODEL_NAME)
    version = mloop.register_model(f"runs:/{run.info.run_id}/model", MODEL_NAME)
    mloop.set_alias(MODEL_NAME, ALIAS, version.version)
    return int(version.version)


def mloop_alias(client: mloop.Client, lookups: int) -> dict[str, Any]:
    register_tiny_model(client)
    client.get_model_version_by_alias(MODEL_NAME, ALIAS)  # warm-up
    samples = time_calls(lambda: client.get_model_version_by_alias(MODEL_NAME, ALIAS), lookups)
    return {
        "lookups": lookups,
        "median_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 99),
    }


def mloop_script(client: mloop.Client, runs: int, steps: int) -> dict[str, Any]:
    """The MLflow side's training script, written with the mloop SDK."""
    experiment_id = mloop.set_experiment("bench-script").experiment_id
    t0 = time.perf_counter()
    for r in range(runs):
        with mloop.start_run(run_name=f"trial-{r}"):
            mloop.log_params({f"p{i}": f"{r}-{i}" for i in range(10)})
            mloop.set_tags({"team": "risk", "stage": "tuning"})
            for step in range(steps):
                mloop.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / steps}, step=step)
            mloop.log_dict({"trial": r, "layers": [64, 32]}, "config.json")
            mloop.log_metric("val_auc", (r * 7919 % runs) / runs)
    mloop.flush()
    best = client.search_runs(
        experiment_ids=[experiment_id], order_by=["metrics.val_auc DESC"], max_results=1
    )
    client.get_metric_history(best.runs[0].info.run_id, "loss")
    return {"runs": runs, "steps": steps, "seconds": time.perf_counter() - t0}


def run_mloop_side(url: str, sizes: Sizes, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every workload in turn; one that fails is recorded as {"error": ...} and the rest go on."""
    mloop.set_tracking_uri(url)
    client = mloop.Client()
    workloads: dict[str, Callable[[], dict[str, Any]]] = {
        "logging": lambda: mloop_logging(sizes.calls),
        "batch": lambda: mloop_batch(client, sizes.batch_metrics),
        "runs": lambda: mloop_runs(sizes.runs),
        "search": lambda: mloop_search(client, rows, sizes.search_repeats),
        "alias": lambda: mloop_alias(client, sizes.lookups),
        "script": lambda: mloop_script(client, sizes.script_runs, sizes.script_steps),
    }
    results: dict[str, Any] = {"mloop_version": getattr(mloop, "__version__", "unknown")}
    for name, workload in workloads.items():
        log(f"mloop: {name} ...")
        try:
            results[name] = workload()
        except Exception as exc:  # report it and measure the others
            console.print_exception(max_frames=6)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def bench_mloop(sizes: Sizes, rows: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    home = workdir / "mloop-home"
    home.mkdir()
    env = {**os.environ, "MLOOP_HOME": str(home)}
    env.pop("MLOOP_TRACKING_URI", None)
    port = free_port()
    with running_server("mloop", mloop_server_command(port), port, env, workdir) as server:
        return run_mloop_side(server.url, sizes, rows)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Figure:
    """One row of the report: where to find the figure in each side's results."""

    workload: str
    section: str
    field: str
    unit: str
    higher_is_better: bool
    target: str
    target_ratio: float | None = None
    target_max_ms: float | None = None


FIGURES = [
    Figure("log_metric, sequential", "logging", "calls_per_s", "calls/s", True, ">= 20x", 20),
    Figure("log_batch ingest", "batch", "metrics_per_s", "metrics/s", True, ">= 20x", 20),
    Figure("run creation", "runs", "runs_per_s", "runs/s", True, ">= 10x", 10),
    Figure("filtered search", "search", "median_ms", "ms", False, ">= 10x", 10),
    Figure("alias lookup, median", "alias", "median_ms", "ms", False, "< 1 ms", None, 1.0),
    Figure("alias lookup, p99", "alias", "p99_ms", "ms", False, ""),
    Figure("training script, whole", "script", "seconds", "s", False, ""),
]
# The MLflow-compatibility issue's targets for the MLflow client on mloop's server.
CLIENT_TARGETS = {"script": 3.0, "batch": 10.0, "search": 10.0}


def figure_value(results: dict[str, Any] | None, figure: Figure) -> float | None:
    """The figure, None when that side did not run, NaN when its workload failed."""
    if not results:
        return None
    section = results.get(figure.section) or {}
    if "error" in section:
        return math.nan
    value = section.get(figure.field)
    return None if value is None else float(value)


def ratio(figure: Figure, mlflow_value: float | None, mloop_value: float | None) -> float | None:
    """mloop speed / MLflow speed; > 1 means mloop is faster."""
    if not mlflow_value or not mloop_value or math.isnan(mlflow_value + mloop_value):
        return None
    if figure.higher_is_better:
        return mloop_value / mlflow_value
    return mlflow_value / mloop_value


def target_met(figure: Figure, mloop_value: float | None, speedup: float | None) -> str:
    if mloop_value is not None and math.isnan(mloop_value):
        return ""
    if figure.target_ratio is not None and speedup is not None:
        return "yes" if speedup >= figure.target_ratio else "no"
    if figure.target_max_ms is not None and mloop_value is not None:
        return "yes" if mloop_value < figure.target_max_ms else "no"
    return ""


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN: the workload failed
        return "error"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "ms":
        return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.0f} {unit}"


def comparison(
    mlflow: dict[str, Any] | None, mloop_: dict[str, Any] | None
) -> list[dict[str, Any]]:
    rows = []
    for figure in FIGURES:
        mlflow_value = figure_value(mlflow, figure)
        mloop_value = figure_value(mloop_, figure)
        speedup = ratio(figure, mlflow_value, mloop_value)
        rows.append(
            {
                **asdict(figure),
                "mlflow": mlflow_value,
                "mloop": mloop_value,
                "ratio": speedup,
                "target_met": target_met(figure, mloop_value, speedup),
            }
        )
    return rows


def describe(sizes: Sizes) -> str:
    return (
        f"{sizes.calls:,} log_metric calls; {sizes.batch_metrics:,} batch metrics; "
        f"{sizes.runs:,} runs; search over {sizes.search_runs:,} runs x{sizes.search_repeats}; "
        f"{sizes.lookups:,} alias lookups"
    )


def render_table(
    rows: list[dict[str, Any]],
    sizes: Sizes,
    title: str,
    columns: tuple[str, str] = ("MLflow", "mloop"),
) -> Table:
    table = Table(
        title=title,
        caption=f"{describe(sizes)}. ratio = mloop speed / MLflow speed (> 1: mloop faster)",
    )
    for column in ("workload", *columns, "ratio", "target", "met"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for row in rows:
        table.add_row(
            row["workload"],
            format_value(row["mlflow"], row["unit"]),
            format_value(row["mloop"], row["unit"]),
            "-" if row["ratio"] is None else f"{row['ratio']:,.1f}x",
            row["target"],
            row["target_met"],
        )
    return table


def notes(results: dict[str, Any]) -> list[str]:
    lines = []
    logging = (results.get("mlflow") or {}).get("logging") or {}
    if "mode" in logging:
        lines.append(
            f"MLflow log_metric: synchronous {logging['sync_calls_per_s']:,.0f} calls/s, "
            f"synchronous=False {logging['async_calls_per_s']:,.0f} calls/s "
            f"(table uses {logging['mode']})"
        )
    matches = {}
    for side in ("mlflow", "mloop", "mlflow_client_on_mloop"):
        search = (results.get(side) or {}).get("search") or {}
        if "matches" in search:
            matches[side] = search["matches"]
            lines.append(
                f"{side} search: {search['runs']:,} runs (set up via {search['setup']} in "
                f"{search['setup_s']:.1f} s), {search['matches']} matches"
            )
    if matches:
        expected = results["expected_matches"]
        agree = all(count == expected for count in matches.values())
        verdict = "all agree" if agree else "MATCH COUNTS DIFFER"
        lines.append(f"expected matches (max_results {SEARCH_MAX_RESULTS}): {expected}, {verdict}")
    lines.extend(client_floor_notes(results))
    for side in ("mlflow", "mloop", "mlflow_client_on_mloop"):
        for name, section in (results.get(side) or {}).items():
            if isinstance(section, dict) and "error" in section:
                lines.append(f"{side} {name} failed: {section['error']}")
    return lines


# The workloads the client-alone floor covers: (section, label, how to read the real figure
# as ms per operation, the operation). Rates become ms per operation so they compare with the
# floor: log_batch in calls of 1,000 metrics, run creation per run.
FLOOR_WORKLOADS: list[tuple[str, str, Callable[[dict[str, Any]], float | None], str]] = [
    ("batch", "log_batch", lambda s: _per_op(s.get("metrics_per_s"), 1000), "1,000 metrics"),
    ("runs", "run creation", lambda s: _per_op(s.get("runs_per_s"), 1), "run"),
    ("search", "search_runs", lambda s: s.get("median_ms"), "search"),
    ("alias", "alias lookup", lambda s: s.get("median_ms"), "lookup"),
]
FLOOR_TARGET = 1.5  # issue 18: mloop's server within 1.5x of the client-alone floor


def _per_op(rate: float | None, items: int) -> float | None:
    """Milliseconds per operation of ``items`` from a rate in items per second."""
    return None if not rate else items / rate * 1000


def floor_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per workload: the stock client alone against a stub that replays each server's own
    answers (its floor) and the same client calls on that server, timed in alternating rounds
    so that both see the same machine, and their ratio. The workload's own figure (timed
    earlier, alone) is kept beside them as ``<side>_workload_ms``."""
    rows = []
    for section, label, per_op, unit in FLOOR_WORKLOADS:
        row: dict[str, Any] = {"workload": label, "section": section, "per": unit}
        for side in ("mlflow_client_on_mloop", "mlflow"):
            name = "mloop" if side == "mlflow_client_on_mloop" else "mlflow"
            figures = results.get(side) or {}
            floor = (figures.get("client_floor") or {}).get(section) or {}
            workload = figures.get(section) or {}
            floor_ms, server_ms = floor.get("ms"), floor.get("server_ms")
            row[f"{name}_floor_ms"] = floor_ms
            row[f"{name}_ms"] = server_ms
            row[f"{name}_ratio"] = server_ms / floor_ms if server_ms and floor_ms else None
            row[f"{name}_workload_ms"] = None if "error" in workload else per_op(workload)
            row[f"{name}_calls"] = floor.get("calls")
        ratio_ = row["mloop_ratio"]
        row["target_met"] = "" if ratio_ is None else ("yes" if ratio_ <= FLOOR_TARGET else "no")
        rows.append(row)
    return rows


def render_floor_table(rows: list[dict[str, Any]], mlflow_version: str) -> Table:
    table = Table(
        title=f"The mlflow {mlflow_version} client alone and on each server, ms per operation",
        caption="alone: against a stub that replays that server's recorded answers at once; "
        "both timed in alternating rounds. ratio = on the server / alone; target: mloop "
        f"within {FLOOR_TARGET:g}x",
    )
    columns = ["workload", "per", "alone", "on mloop", "ratio", "alone", "on MLflow", "ratio"]
    columns.append("met")
    for column in columns:
        table.add_column(column, justify="left" if column in ("workload", "per") else "right")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.2f}"

    def times(value: float | None) -> str:
        return "-" if value is None else f"{value:,.2f}x"

    for row in rows:
        table.add_row(
            row["workload"],
            row["per"],
            ms(row["mloop_floor_ms"]),
            ms(row["mloop_ms"]),
            times(row["mloop_ratio"]),
            ms(row["mlflow_floor_ms"]),
            ms(row["mlflow_ms"]),
            times(row["mlflow_ratio"]),
            row["target_met"],
        )
    return table


def _call_label(call: str) -> str:
    """``POST /api/2.0/mlflow/runs/create 588`` as ``runs/create (588 B)``."""
    path, size = call.rsplit(" ", 1)
    return f"{path.split('/mlflow/', 1)[-1]} ({int(size):,} B)"


def client_floor_notes(results: dict[str, Any]) -> list[str]:
    """The calls each floor replays (as the stub saw them, with the bytes of each answer)."""
    lines = []
    floors = (results.get("mlflow_client_on_mloop") or {}).get("client_floor") or {}
    if "error" in floors:
        lines.append(f"client floor failed: {floors['error']}")
        return lines
    for section, label, _, _ in FLOOR_WORKLOADS:
        calls = (floors.get(section) or {}).get("calls")
        if calls:
            shown = ", ".join(_call_label(call) for call in calls)
            lines.append(f"client floor, {label}: replays {shown}")
    return lines


def default_json_path() -> Path:
    return RESULTS_DIR / f"tracking-{dt.date.today().isoformat()}.json"


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results written to {path}")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tracking benchmark: mloop against MLflow.")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--only",
        choices=["mlflow", "mloop", "client"],
        help="run one part only (client: the MLflow client against mloop's server)",
    )
    parser.add_argument(
        "--search-runs", type=int, help="runs to create for the search workload (default 10,000)"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=default_json_path(),
        type=Path,
        metavar="PATH",
        help="write results as JSON (default path: benchmarks/results/tracking-<date>.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def choose_sizes(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else Sizes()
    if args.search_runs:
        sizes = Sizes(**{**asdict(sizes), "search_runs": args.search_runs})
    return sizes


def run_benchmarks(args: argparse.Namespace, sizes: Sizes, workdir: Path) -> dict[str, Any]:
    rows = search_rows(sizes.search_runs)
    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_start": [round(x, 2) for x in os.getloadavg()],
        },
        "sizes": asdict(sizes),
        "expected_matches": expected_matches(rows),
    }
    if args.only in (None, "mlflow"):
        results["mlflow"] = bench_mlflow(sizes, rows, workdir / "mlflow")
    if args.only in (None, "mloop"):
        results["mloop"] = bench_mloop(sizes, rows, workdir / "mloop")
    if args.only in (None, "client"):
        results["mlflow_client_on_mloop"] = bench_mlflow_client_on_mloop(
            sizes, rows, workdir / "client"
        )
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def report(results: dict[str, Any], sizes: Sizes) -> None:
    rows = comparison(results.get("mlflow"), results.get("mloop"))
    results["comparison"] = rows
    mlflow_version = (results.get("mlflow") or {}).get("mlflow_version", "(not run)")
    out = Console(width=max(Console().width, 110))  # the floor table is wide
    out.print(render_table(rows, sizes, f"Tracking: mloop vs MLflow {mlflow_version}"))
    if results.get("mlflow_client_on_mloop"):
        client_rows = comparison(results.get("mlflow"), results["mlflow_client_on_mloop"])
        for row in client_rows:
            wanted = CLIENT_TARGETS.get(row["section"])
            row["target"] = f">= {wanted:g}x" if wanted else ""
            met = row["ratio"] is not None and wanted is not None and row["ratio"] >= wanted
            row["target_met"] = ("yes" if met else "no") if wanted else ""
        results["client_comparison"] = client_rows
        out.print(
            render_table(
                client_rows,
                sizes,
                f"The mlflow {mlflow_version} client: MLflow's server vs mloop's server",
                ("MLflow server", "mloop server"),
            )
        )
    if results.get("mlflow_client_on_mloop"):
        results["client_floor_comparison"] = floor_rows(results)
        out.print(render_floor_table(results["client_floor_comparison"], mlflow_version))
    machine = results.get("machine") or {}
    if "load_start" in machine:
        out.print(
            f"load average (1, 5, 15 min): {machine['load_start']} at the start, "
            f"{machine.get('load_end')} at the end"
        )
    for line in notes(results):
        out.print(escape(line))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sizes = choose_sizes(args)
    log(f"sizes: {describe(sizes)}")
    workdir = Path(tempfile.mkdtemp(prefix="mloop-bench-tracking-"))
    try:
        for side in ("mlflow", "mloop", "client"):
            (workdir / side).mkdir()
        results = run_benchmarks(args, sizes, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, sizes)
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
