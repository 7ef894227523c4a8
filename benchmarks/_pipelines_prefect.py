"""Prefect 3 side of benchmarks/pipelines.py, run in benchmarks/.venvs/prefect.

The same shapes as ``_pipelines_steps``: a chain of 100 trivial tasks, each taking the
previous one's output, and a fan-out of 99 tasks (``.map`` on the default thread pool task
runner) gathered by one more. The first flow starts Prefect's temporary local API server;
after every flow the script waits until the server has been idle (its CPU time still) before
timing the next one. Prints one JSON object: wall seconds per round and shape.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from prefect import flow, task


def work(x: int, salt: str) -> int:
    return x + 1  # salt only makes each round's inputs (and cache keys) new


@task
def inc(x: int, salt: str) -> int:
    return work(x, salt)


@task
def total(values: list[int]) -> int:
    return sum(values)


@flow
def chain(steps: int = 100, salt: str = "") -> int:
    value = inc(0, salt)
    for _ in range(steps - 1):
        value = inc(value, salt)
    return value


@flow
def fan(steps: int = 100, salt: str = "") -> int:
    futures = inc.map(list(range(steps - 1)), salt)
    return total([f.result() for f in futures])


def _server_cpu() -> float:
    """CPU seconds of this process's children (Prefect's temporary server runs as one)."""
    total_s = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # ppid
            total_s += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total_s


def _wait_idle(quiet_s: float = 1.0, limit_s: float = 60.0) -> None:
    """Until the server's CPU time has stood still for ``quiet_s``."""
    deadline = time.monotonic() + limit_s
    last = _server_cpu()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = _server_cpu()
        if now - last < 0.02:
            return
        last = now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    chain(steps=2, salt="warm")  # starts the temporary server
    fan(steps=3, salt="warm")
    startup = time.perf_counter() - started
    _wait_idle()
    rounds: dict[str, list[float]] = {"chain": [], "fan": []}
    for r in range(args.rounds):
        for name, shape in (("chain", chain), ("fan", fan)):
            salt = f"{name}-{r}"
            begin = time.perf_counter()
            result = shape(steps=args.steps, salt=salt)
            rounds[name].append(time.perf_counter() - begin)
            expected = args.steps if name == "chain" else args.steps * (args.steps - 1) // 2
            if result != expected:
                sys.exit(f"{name} returned {result}, expected {expected}")
            _wait_idle()
    import prefect

    print(json.dumps({"prefect": prefect.__version__, "startup_s": startup, "rounds": rounds}))


if __name__ == "__main__":
    main()
