"""Pipelines benchmark: per-step orchestration overhead against Prefect 3, and batch scoring.

    .venv/bin/python benchmarks/pipelines.py                    # both parts, 5 rounds
    .venv/bin/python benchmarks/pipelines.py --skip-scoring --rounds 3
    .venv/bin/python benchmarks/pipelines.py --rows 1000000 --skip-prefect

(1) Overhead. Two shapes of 100 trivial steps (``_pipelines_steps.py``): a chain, each step
taking the previous one's output, and a fan-out of 99 independent steps gathered by one more.
mloop runs them with everything on: a tracking run with params and tags, a pipeline run with
its graph, step records (status, attempts, timings, log tails) and the cache (each round's
``salt`` param makes every key new, so every step is looked up, runs, and has its output
stored), on a fresh SQLite store; on the local executor (2 worker processes, started once
and kept across rounds, as ``LocalExecutor`` objects are meant to be used) and on a local Ray
(2 CPUs, started once). Prefect 3 (``_pipelines_prefect.py``, in its own venv) runs the same
shapes as a ``@flow`` of ``@task`` s, locally with its temporary API server (started by the
first flow, not timed), waiting for the server to go idle between flows. Per-step overhead =
(wall time of a run - the steps' own work) / steps, where the own work is the step function
timed on its own (a few microseconds for 100 calls). Rounds alternate mloop executors; each
figure is the median over rounds with its range.

(2) Batch scoring. ``--rows`` rows (10 million) of four float features and an id are
generated once and registered as a dataset version in a store under ``benchmarks/.work``;
a logistic regression fitted on 10,000 of them is registered as a model. ``batch_score``
scores the version in 8 partitions with 1 and 2 local worker processes, three ways
(``MODES``): cold, in a new Python process, as before preloading (each worker imports
scikit-learn) and as now (the forkserver imports it once); warm, with a pool started once
and passed to every call. Rounds alternate modes and worker counts. Reported, medians over
rounds: the whole call and its parts (the driver's own time, the first worker's start, the
plan, the partitions phase from the plan's end to the last partition's end, registering the
10M-row output), each partition phase's worker-seconds (imports, model load, read, predict,
write, store: the run's ``scoring_*_s`` metrics), the cores the partitions got (their CPU
seconds over the phase's wall time: below 2 with 2 workers when other work holds the
cores), and the 1-to-2-worker scaling ratios of the total and of the partitions phase.

Prints the figures and ratios with the load average, writes
``benchmarks/results/pipelines-2026-12-07.json`` (or ``--json``). Reports only: no figure
makes it fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
PREFECT_SIDE = BENCH_DIR / "_pipelines_prefect.py"
DATA_HOME = BENCH_DIR / ".work" / "pipelines-home"
DEFAULT_JSON = BENCH_DIR / "results" / "pipelines-2026-12-07.json"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def own_work_s(steps: int) -> float:
    """The steps' own work: the step function called ``steps`` times in this process."""
    from _pipelines_steps import work

    best = float("inf")
    for _ in range(20):
        begin = time.perf_counter()
        value = 0
        for _ in range(steps):
            value = work(value, "salt")
        best = min(best, time.perf_counter() - begin)
    return best


def _use_store(home: Path) -> None:
    """Point the SDK at the embedded store in ``home`` (SQLite and local artifacts)."""
    from mloop.client import connection

    os.environ["MLOOP_HOME"] = str(home)
    for name in ("MLOOP_TRACKING_URI", "MLOOP_DATABASE_URL", "MLOOP_ARTIFACT_ROOT"):
        os.environ.pop(name, None)
    connection.close_all()


# -- (1) orchestration overhead ------------------------------------------------------------


def mloop_overhead(steps: int, rounds: int, use_ray: bool) -> dict[str, Any]:
    import _pipelines_steps as flows

    from mloop.pipelines import LocalExecutor, RayExecutor, run_pipeline

    home = Path(tempfile.mkdtemp(prefix="mloop-bench-pipelines-"))
    _use_store(home)
    executors: dict[str, Any] = {"local": LocalExecutor(workers=2)}
    if use_ray:
        os.environ.pop("RAY_ADDRESS", None)
        executors["ray"] = RayExecutor(workers=2)
    for executor in executors.values():
        executor.start()
    times: dict[str, list[float]] = {f"{e}/{s}": [] for e in executors for s in ("chain", "fan")}
    try:
        for name, executor in executors.items():  # warm: workers import the steps
            for shape in (flows.chain, flows.fan):
                salt = f"warm-{name}-{shape.name}"
                run_pipeline(shape, {"steps": steps, "salt": salt}, executor=executor).result()
        for r in range(rounds):
            for name, executor in executors.items():
                for label, shape in (("chain", flows.chain), ("fan", flows.fan)):
                    begin = time.perf_counter()
                    # a salt of its own: no step finds another run's output in the cache
                    salt = f"{name}-{label}-{r}"
                    run = run_pipeline(shape, {"steps": steps, "salt": salt}, executor=executor)
                    times[f"{name}/{label}"].append(time.perf_counter() - begin)
                    run.result()
                    ran = Counter(s.status for s in run.steps.values())
                    assert ran == {"succeeded": steps}, (name, label, ran)
            log(
                f"mloop round {r + 1}/{rounds}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
            )
    finally:
        for executor in executors.values():
            executor.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    return times


def prefect_overhead(steps: int, rounds: int) -> dict[str, Any]:
    from data_validation import ensure_venv

    python = ensure_venv("prefect")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOOP_", "PREFECT_"))}
    home = Path(tempfile.mkdtemp(prefix="prefect-bench-"))
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # its 20 s default is too short for a start on two busy cores
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        DO_NOT_TRACK="1",
    )
    try:
        done = subprocess.run(
            [str(python), str(PREFECT_SIDE), "--steps", str(steps), "--rounds", str(rounds)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"the Prefect side failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    work = own_work_s(args.steps)
    loads = [os.getloadavg()[0]]
    times = mloop_overhead(args.steps, args.rounds, not args.skip_ray)
    loads.append(os.getloadavg()[0])
    prefect = None if args.skip_prefect else prefect_overhead(args.steps, args.rounds)
    loads.append(os.getloadavg()[0])
    if prefect is not None:
        for shape, values in prefect["rounds"].items():
            times[f"prefect/{shape}"] = values
    per_step = {
        key: summary([(t - work) / args.steps * 1000 for t in values])
        for key, values in times.items()
    }
    ratios = {}
    for shape in ("chain", "fan"):
        peer = per_step.get(f"prefect/{shape}")
        for executor in ("local", "ray"):
            mine = per_step.get(f"{executor}/{shape}")
            if peer and mine:
                ratios[f"prefect/{executor} {shape}"] = peer["median"] / mine["median"]
    return {
        "steps": args.steps,
        "rounds": args.rounds,
        "own_work_s": work,
        "wall_s": {k: summary(v) for k, v in times.items()},
        "per_step_overhead_ms": per_step,
        "ratios_prefect_to_mloop": ratios,
        "prefect_version": prefect["prefect"] if prefect else None,
        "prefect_startup_s": prefect["startup_s"] if prefect else None,
        "load_average_1m": loads,
    }


# -- (2) batch scoring -------------------------------------------------------------------


def _prepare_scoring(rows: int) -> None:
    """The dataset and model, generated and registered once into ``DATA_HOME``."""
    import numpy as np
    import pyarrow as pa

    import mloop
    import mloop.sklearn
    from mloop.core.errors import NotFoundError

    _use_store(DATA_HOME)
    client = mloop.Client()
    try:
        existing = client.get_dataset_version("bench-features", 1, include_profile=False)
        if existing.row_count == rows and client.get_model_version("bench-scorer", 1):
            return
        raise SystemExit(f"{DATA_HOME} holds another row count; remove it to regenerate")
    except NotFoundError:
        pass
    log(f"generating {rows} rows into {DATA_HOME} (once)")
    rng = np.random.default_rng(2026)
    features = rng.normal(size=(rows, 4))
    table = pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            **{f"f{i}": features[:, i] for i in range(4)},
        }
    )
    mloop.register_dataset("bench-features", table)
    from sklearn.linear_model import LogisticRegression

    sample = table.slice(0, 10_000).to_pandas()
    x = sample[["f0", "f1", "f2", "f3"]]
    y = (x["f0"] + 0.5 * x["f1"] - x["f2"] > 0).astype(int)
    with mloop.start_run(run_name="bench-scorer"):
        mloop.sklearn.log_model(
            LogisticRegression().fit(x, y),
            "model",
            input_example=x.head(3),
            registered_model_name="bench-scorer",
        )


SCORE_MODEL = "models:/bench-scorer/1"
SCORE_DATASET = "bench-features/1"
MODES = ("cold-before", "cold", "warm")
"""How each scoring call is run. ``cold-before``: a new Python process whose workers start
without preloading (each imports scikit-learn itself: how every call ran before preloading
existed), ``cold``: a new Python process, ``batch_score(executor="local")`` as a user or the
CLI calls it (its forkserver imports the model's library once), ``warm``: a pool started
once in this process and passed to every call (each worker holds the model already)."""


def _score_once(workers: int, executor: Any, partitions: int) -> dict[str, Any]:
    """One ``batch_score_run`` call, timed, with where its time went."""
    from mloop.client.client import Client
    from mloop.pipelines import batch_score_run

    begin = time.perf_counter()
    run = batch_score_run(
        SCORE_MODEL,
        SCORE_DATASET,
        output=f"bench-scores-w{workers}",
        partitions=partitions,
        keep=["id"],
        executor=executor,
        workers=workers,
    )
    total = time.perf_counter() - begin
    run.result()
    steps = list(run.steps.values())
    parts = [s for s in steps if s.step == "score_partition"]
    plan = next(s for s in steps if s.step == "plan_scoring")
    register = next(s for s in steps if s.step == "register_scores")
    first = min(s.start_time or 0 for s in steps)

    def began(step: Any) -> int:
        return int(step.attempts[-1]["start_time"])

    metrics = Client().get_run(run.run_id).data.metrics
    phase_s = ((max(s.end_time or 0 for s in parts) - (plan.end_time or 0)) / 1000) or 1e-9
    return {
        "total_s": total,
        # the driver's own time: validating, recording the run, and after the last step
        "driver_s": total - ((register.end_time or 0) - first) / 1000,
        # from submitting the first step to a worker running it (worker start, preloads)
        "first_worker_start_s": (began(plan) - first) / 1000,
        "plan_s": ((plan.end_time or 0) - began(plan)) / 1000,
        "partitions_phase_s": phase_s,
        # CPU seconds the partitions used / the phase's wall time: how many cores the
        # workers actually got (2 workers on a machine other work keeps busy get fewer)
        "partitions_cores_used": metrics["scoring_cpu_s"] / phase_s,
        "register_s": ((register.end_time or 0) - began(register)) / 1000,
        # worker seconds per phase, summed over partitions (the run's metrics)
        "partition_worker_s": {
            phase: metrics[f"scoring_{phase}_s"]
            for phase in ("imports", "model", "read", "predict", "write", "store")
        },
    }


def _cold_call(spec: str, partitions: int) -> None:
    """Child-process side of a cold call: ``WORKERS:MODE``; prints the figures as JSON."""
    from mloop.pipelines import LocalExecutor

    workers, mode = spec.split(":")
    _use_store(DATA_HOME)
    # cold-before: a plain pool, as batch_score used before it preloaded the model library
    executor: Any = LocalExecutor(workers=int(workers)) if mode == "cold-before" else "local"
    try:
        figures = _score_once(int(workers), executor, partitions)
    finally:
        if not isinstance(executor, str):
            executor.shutdown()
    print(json.dumps(figures))


def _cold(workers: int, mode: str, partitions: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--cold-call",
            f"{workers}:{mode}",
            "--partitions",
            f"{partitions}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the cold scoring call failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_figures(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds of each figure (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, value in calls[0].items():
        if isinstance(value, dict):
            out[key] = _median_figures([c[key] for c in calls])
        else:
            out[key] = statistics.median(c[key] for c in calls)
    return out


def scoring(args: argparse.Namespace) -> dict[str, Any]:
    from mloop.pipelines import LocalExecutor
    from mloop.pipelines.scoring import scoring_modules

    _prepare_scoring(args.rows)
    calls: dict[str, dict[int, list[dict[str, Any]]]] = {m: {1: [], 2: []} for m in MODES}
    loads = [os.getloadavg()[0]]
    pools = {w: LocalExecutor(workers=w, preload=scoring_modules("sklearn")) for w in (1, 2)}
    try:
        for workers, pool in pools.items():  # warm: each worker loads the model once
            pool.start()
            _score_once(workers, pool, args.partitions)
        for r in range(args.scoring_rounds):
            for mode in MODES:
                for workers in (1, 2):
                    if mode == "warm":
                        figures = _score_once(workers, pools[workers], args.partitions)
                    else:
                        figures = _cold(workers, mode, args.partitions)
                    calls[mode][workers].append(figures)
                    log(
                        f"scoring round {r + 1}, {mode}, {workers} worker(s): "
                        f"{figures['total_s']:.1f} s, partitions "
                        f"{figures['partitions_phase_s']:.1f} s, register "
                        f"{figures['register_s']:.1f} s"
                    )
                    loads.append(os.getloadavg()[0])
    finally:
        for pool in pools.values():
            pool.shutdown()
    result: dict[str, Any] = {
        "rows": args.rows,
        "partitions": args.partitions,
        "rounds": args.scoring_rounds,
        "load_average_1m": loads,
    }
    for mode in MODES:
        medians = {w: _median_figures(calls[mode][w]) for w in (1, 2)}
        totals = {w: summary([c["total_s"] for c in calls[mode][w]]) for w in (1, 2)}
        result[mode] = {
            "total_s": totals,
            "median_figures": medians,
            "rows_per_s_total": {w: args.rows / t["median"] for w, t in totals.items()},
            "scaling_1_to_2_workers_total": totals[1]["median"] / totals[2]["median"],
            "scaling_1_to_2_workers_partitions": medians[1]["partitions_phase_s"]
            / medians[2]["partitions_phase_s"],
        }
    return result


def _print_scoring(part: dict[str, Any], rows: int, partitions: int) -> None:
    print(f"batch scoring {rows} rows in {partitions} partitions (s, median):")
    for mode in MODES:
        res = part[mode]
        print(
            f"  {mode}: scaling 1 -> 2 workers: total "
            f"{res['scaling_1_to_2_workers_total']:.2f}x, partitions phase "
            f"{res['scaling_1_to_2_workers_partitions']:.2f}x"
        )
        for workers in (1, 2):
            f = res["median_figures"][workers]
            phases = ", ".join(f"{k} {v:.2f}" for k, v in f["partition_worker_s"].items())
            print(
                f"    {workers} worker(s): total {f['total_s']:.2f} = driver {f['driver_s']:.2f}"
                f" + first worker start {f['first_worker_start_s']:.2f} + plan "
                f"{f['plan_s']:.2f} + partitions {f['partitions_phase_s']:.2f} + register "
                f"{f['register_s']:.2f}; partition worker-seconds: {phases}; cores used "
                f"in the partitions phase {f['partitions_cores_used']:.2f}"
            )
    print(f"  load average (1 min): {[round(x, 2) for x in part['load_average_1m']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--scoring-rounds", type=int, default=3)
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--cold-call", help=argparse.SUPPRESS)  # WORKERS:MODE, internal
    args = parser.parse_args()
    os.environ.setdefault("MLOOP_DISABLE_GIT_CAPTURE", "1")
    if args.cold_call:
        _cold_call(args.cold_call, args.partitions)
        return
    results: dict[str, Any] = {
        "benchmark": "pipelines",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    if not args.skip_overhead:
        part = overhead(args)
        results["overhead"] = part
        print(f"per-step overhead, {args.steps} trivial steps (ms, median [min-max]):")
        for key, value in part["per_step_overhead_ms"].items():
            print(f"  {key:14s} {value['median']:8.2f} [{value['min']:.2f}-{value['max']:.2f}]")
        for key, ratio in part["ratios_prefect_to_mloop"].items():
            print(f"  Prefect / mloop ({key}): {ratio:.1f}x")
        print(f"  load average (1 min): {part['load_average_1m']}")
        _write(args.json, results)  # kept even if the scoring part fails
    if not args.skip_scoring:
        part = scoring(args)
        results["scoring"] = part
        _print_scoring(part, args.rows, args.partitions)
    _write(args.json, results)


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
