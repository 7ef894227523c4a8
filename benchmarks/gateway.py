"""Gateway overhead benchmark: mloop's gateway (and LiteLLM's proxy) in front of a fake provider.

    .venv/bin/python benchmarks/gateway.py                  # 2,000 sequential + 4,000 at c=32
    .venv/bin/python benchmarks/gateway.py --quick          # a smoke run
    .venv/bin/python benchmarks/gateway.py --only mloop     # skip LiteLLM
    .venv/bin/python benchmarks/gateway.py --json           # also write results/gateway-<date>.json

The fake provider (``mloop.llm.testing.fake_provider``, answering instantly) runs in its own
process, and each gateway in its own, pointed at the fake: mloop's server (``mloop server``,
call log on, cache off for the overhead route) and LiteLLM's proxy (``litellm --config``, in
``benchmarks/.venvs/litellm`` from ``requirements-litellm.txt``, created when missing; skipped
with a note if it cannot be installed), one gateway at a time (an idle LiteLLM proxy still
uses CPU). With each, the same asyncio ``httpx`` client sends the same chat request straight
to the fake provider (the baseline) and through the gateway, sequentially and then from 32
concurrent tasks, taking turns in ``--rounds`` blocks so that drift of the machine falls on
both alike. A gateway's
overhead at a percentile is its latency minus the baseline's at that percentile. A last pass
measures mloop's cache hits (a route with ``cache: {mode: on}``, one request repeated).
It reports only: no figure makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_DIR = BENCH_DIR / "results"
PROJECT_BIN = Path(sys.executable).parent
REQUEST = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "You are a helpful support assistant."},
        {"role": "user", "content": "Where is my order 1234? It was due yesterday."},
    ],
    "temperature": 0.7,
}
# LiteLLM's proxy refuses to start without a master key; every path gets the same header.
MASTER_KEY = "sk-bench-5d1f0c2a9e8b47a6b3c1d0e9f8a7b6c5"
TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0

console = Console()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                time.sleep(1.0)  # let start-up work settle before anything is timed
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _litellm_python() -> Path | None:
    venv = VENVS_DIR / "litellm"
    requirements = BENCH_DIR / "requirements-litellm.txt"
    stamp = venv / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    console.print("[dim]installing LiteLLM into benchmarks/.venvs/litellm ...[/]")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
            check=True,
            timeout=1200,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        console.print(f"[yellow]LiteLLM could not be installed ({exc}); measuring mloop only[/]")
        return None
    stamp.write_text(digest)
    return python


# -- load ---------------------------------------------------------------------------------


async def _measure(url: str, n: int, concurrency: int, body: dict[str, Any]) -> list[float]:
    """Latencies in ms of ``n`` requests from ``concurrency`` tasks (after a warm-up)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        for _ in range(min(200, n)):
            (await client.post(url, json=body, headers=headers)).raise_for_status()
        latencies: list[float] = []
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post(url, json=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _pct(latencies, 50),
        "p90_ms": _pct(latencies, 90),
        "p99_ms": _pct(latencies, 99),
        "mean_ms": statistics.fmean(latencies),
        "n": len(latencies),
    }


# -- the gateways -------------------------------------------------------------------------


def _mloop_config(fake_url: str) -> dict[str, Any]:
    target = [{"provider": "fake", "model": "gpt-4o-mini"}]
    return {
        "providers": {"fake": {"kind": "openai_compatible", "base_url": f"{fake_url}/v1"}},
        "routes": {
            "bench": {"targets": target, "cache": {"mode": "off"}},
            "bench-cached": {"targets": target, "cache": {"mode": "on"}},
        },
    }


def _litellm_config(fake_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"{fake_url}/v1",
                    "api_key": "sk-fake",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
        "general_settings": {"master_key": MASTER_KEY},
    }


def _interleaved(
    args: argparse.Namespace, paths: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, list[float]]]:
    """Latencies per mode and path, the paths taking turns in ``--rounds`` blocks so that drift
    of this shared machine falls on all of them alike."""
    samples: dict[str, dict[str, list[float]]] = {"sequential": {}, "concurrent": {}}
    for mode, concurrency, n in (
        ("sequential", 1, args.requests),
        ("concurrent", 32, args.requests * 2),
    ):
        for r in range(args.rounds):
            for name, (url, payload) in paths.items():
                console.print(f"[dim]{mode}, round {r + 1}/{args.rounds}: {name}[/]")
                got = asyncio.run(_measure(url, n // args.rounds, concurrency, payload))
                samples[mode].setdefault(name, []).extend(got)
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One phase per gateway: the fake provider and that gateway alone (an idle LiteLLM proxy
    still uses CPU), the direct baseline measured in turns with it."""
    tmp = Path(tempfile.mkdtemp(prefix="mloop-gateway-bench-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results: dict[str, Any] = {"sequential": {}, "concurrent": {}}
    try:
        fake_port = _free_port()
        fake_cmd = [sys.executable, "-m", "mloop.llm.testing.fake_provider"]
        fake_log = tmp / "fake.log"
        with _process([*fake_cmd, "--port", str(fake_port)], env, fake_log) as fake_proc:
            fake_url = f"http://127.0.0.1:{fake_port}"
            _wait_ready(f"{fake_url}/v1/models", fake_proc, fake_log)
            direct = (f"{fake_url}/v1/chat/completions", {**REQUEST, "model": "gpt-4o-mini"})
            phases: list[tuple[str, list[str], dict[str, str], Path, str]] = []
            if "mloop" in args.only:
                home = tmp / "mloop-home"
                home.mkdir()
                (home / "gateway.yaml").write_text(yaml.safe_dump(_mloop_config(fake_url)))
                port = _free_port()
                mloop_env = {**env, "MLOOP_HOME": str(home)}
                mloop_env.pop("MLOOP_GATEWAY_CONFIG", None)
                cmd = [str(PROJECT_BIN / "mloop"), "server", "--port", str(port)]
                phases.append(("mloop", cmd, mloop_env, tmp / "mloop.log", f":{port}/health"))
            if "litellm" in args.only:
                python = _litellm_python()
                if python is not None:
                    cfg = tmp / "litellm.yaml"
                    cfg.write_text(yaml.safe_dump(_litellm_config(fake_url)))
                    port = _free_port()
                    lcmd = [str(python.parent / "litellm"), "--config", str(cfg)]
                    lcmd += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
                    lenv = {**env, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
                    log = tmp / "litellm.log"
                    phases.append(("litellm", lcmd, lenv, log, f":{port}/health/liveliness"))
            for name, cmd, penv, log, ready in phases:
                with _process(cmd, penv, log) as proc:
                    base = ready.split("/")[0]
                    _wait_ready(f"http://127.0.0.1{ready}", proc, log, 300)
                    url = f"http://127.0.0.1{base}/v1/chat/completions"
                    samples = _interleaved(args, {"direct": direct, name: (url, REQUEST)})
                    for mode, by_path in samples.items():
                        results[mode][name] = _summary(by_path[name])
                        results[mode][f"direct ({name} phase)"] = _summary(by_path["direct"])
                    if name == "mloop":
                        console.print("[dim]mloop cache hits[/]")
                        cached = {**REQUEST, "model": "bench-cached"}
                        hits = asyncio.run(_measure(url, args.requests, 1, cached))
                        results["cache_hit"] = _summary(hits)
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _overheads(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("sequential", "concurrent"):
        for name in ("mloop", "litellm"):
            if name in results[mode]:
                gw = results[mode][name]
                base = results[mode][f"direct ({name} phase)"]
                out.setdefault(name, {})[mode] = {
                    "p50_overhead_ms": gw["p50_ms"] - base["p50_ms"],
                    "p99_overhead_ms": gw["p99_ms"] - base["p99_ms"],
                }
    return out


def report(results: dict[str, Any]) -> dict[str, Any]:
    overheads = _overheads(results)
    for mode in ("sequential", "concurrent"):
        table = Table(title=f"latency, {mode} ({'c=1' if mode == 'sequential' else 'c=32'})")
        for col in ("path", "p50 ms", "p90 ms", "p99 ms", "overhead p50", "overhead p99"):
            table.add_column(col, justify="right" if col != "path" else "left")
        for name, s in results[mode].items():
            o = overheads.get(name, {}).get(mode)
            table.add_row(
                name,
                f"{s['p50_ms']:.3f}",
                f"{s['p90_ms']:.3f}",
                f"{s['p99_ms']:.3f}",
                f"{o['p50_overhead_ms']:.3f}" if o else "",
                f"{o['p99_overhead_ms']:.3f}" if o else "",
            )
        console.print(table)
    if "cache_hit" in results:
        hit = results["cache_hit"]
        console.print(
            f"mloop cache hit: p50 {hit['p50_ms']:.3f} ms, p99 {hit['p99_ms']:.3f} ms "
            f"(direct provider call p50 "
            f"{results['sequential']['direct (mloop phase)']['p50_ms']:.3f} ms)"
        )
    ratios: dict[str, Any] = {}
    if "mloop" in overheads and "litellm" in overheads:
        for mode in ("sequential", "concurrent"):
            m, litellm = overheads["mloop"][mode], overheads["litellm"][mode]
            ratios[mode] = {
                k: (litellm[k] / m[k]) if m[k] > 0 else None
                for k in ("p50_overhead_ms", "p99_overhead_ms")
            }
            console.print(
                f"LiteLLM / mloop overhead, {mode}: "
                + ", ".join(
                    f"{k.split('_')[0]} {v:.1f}x" if v else f"{k.split('_')[0]} n/a"
                    for k, v in ratios[mode].items()
                )
            )
    if "mloop" in overheads:
        seq = overheads["mloop"]["sequential"]
        console.print(
            f"mloop overhead target p50 < {TARGET_P50_MS} ms: {seq['p50_overhead_ms']:.3f} ms "
            f"({'met' if seq['p50_overhead_ms'] < TARGET_P50_MS else 'missed'}); "
            f"p99 < {TARGET_P99_MS} ms: {seq['p99_overhead_ms']:.3f} ms "
            f"({'met' if seq['p99_overhead_ms'] < TARGET_P99_MS else 'missed'})"
        )
    return {"overheads": overheads, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4, help="turns each path takes")
    parser.add_argument("--quick", action="store_true", help="200 requests per pass")
    parser.add_argument("--only", default="mloop,litellm", help="mloop, litellm or both")
    parser.add_argument("--json", nargs="?", const="", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests = 200
    args.only = {x.strip() for x in args.only.split(",")}
    results = run(args)
    derived = report(results)
    if args.json is not None:
        path = (
            Path(args.json)
            if args.json
            else RESULTS_DIR / f"gateway-{dt.date.today().isoformat()}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "requests": args.requests,
            **results,
            **derived,
        }
        path.write_text(json.dumps(payload, indent=2))
        console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
