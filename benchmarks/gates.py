"""Gate benchmark: a candidate against the champion on a 100,000-row suite, against MLflow.

    .venv/bin/python benchmarks/gates.py                 # 100,000 rows, 1,000 resamples
    .venv/bin/python benchmarks/gates.py --rows 20000 --skip-mlflow
    .venv/bin/python benchmarks/gates.py --json benchmarks/results/gates-2026-12-07.json

mloop (embedded store in a fresh ``MLOOP_HOME``): set-up, not timed, registers the test rows
as a dataset version and two logistic regressions (the champion sees two of the three
informative features, the candidate all three) and a suite (primary ROC AUC, accuracy
guarded). Timed, ``--repeats`` times each: ``mloop.evals.gate`` end to end (both models
loaded and run on every row, two tracked runs, the paired bootstrap with ``--resamples``
resamples, the decision stored), the same gate with McNemar (primary accuracy), and the
paired bootstrap alone on the two models' outputs.

MLflow (``_gates_mlflow.py`` in ``benchmarks/.venvs/mlflow``, pinned in
``requirements-mlflow.txt``): the same rows and models; ``mlflow.models.evaluate`` of the
candidate and of the baseline and ``mlflow.validate_evaluation_results`` with thresholds.
MLflow's gate compares point values and computes no interval, so mloop does more work (1,000
resamples of both models); the ratio is of wall time for the whole gate.

Prints medians and the ratio; writes JSON with ``--json``. It reports only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _gates_data import CANDIDATE_FEATURES, CHAMPION_FEATURES, make_frame  # noqa: E402


def log(message: str) -> None:
    print(f"{dt.datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)


def _timed(fn: Any, repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def run_mloop(rows: int, resamples: int, repeats: int, seed: int) -> dict[str, Any]:
    os.environ["MLOOP_HOME"] = tempfile.mkdtemp(prefix="mloop-gates-")
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import mloop
    import mloop.evals as evals
    import mloop.sklearn
    from mloop.evals.comparison import paired_bootstrap
    from mloop.evals.metrics import metric_function
    from mloop.evals.names import parse_metric

    train, test = make_frame(rows, seed + 1), make_frame(rows, seed)
    mloop.register_dataset("credit-test", test)
    versions = {}
    for name, features in (("champion", CHAMPION_FEATURES), ("candidate", CANDIDATE_FEATURES)):
        model = LogisticRegression().fit(train[features], train["default"])
        info = mloop.sklearn.log_model(model, registered_model_name="credit")
        mloop.end_run()
        assert info.registered_model_version is not None
        versions[name] = info.registered_model_version.version
    common = {"dataset": "credit-test", "target": "default", "task": "classification"}
    evals.register_suite(
        "bench", **common, primary="roc_auc", guards={"accuracy": 0.01}, resamples=resamples
    )
    evals.register_suite("bench-mcnemar", **common, primary="accuracy", method="mcnemar")
    candidate = f"models:/credit/{versions['candidate']}"
    champion = f"models:/credit/{versions['champion']}"
    log(f"mloop: gate with {resamples} bootstrap resamples over {rows} rows")
    gate_times, decision = _timed(lambda: evals.gate(candidate, champion, "bench"), repeats)
    log("mloop: gate with McNemar")
    mcnemar_times, mcnemar = _timed(
        lambda: evals.gate(candidate, champion, "bench-mcnemar"), repeats
    )
    cand = evals.run_suite(candidate, "bench").evaluation
    champ = evals.run_suite(champion, "bench").evaluation
    assert cand is not None and champ is not None
    auc = parse_metric("roc_auc", "classification", [], "primary")
    log("mloop: the paired bootstrap alone")
    boot_times, _ = _timed(
        lambda: paired_bootstrap(
            metric_function(auc, cand.outputs),
            metric_function(auc, champ.outputs),
            rows,
            higher_is_better=True,
            resamples=resamples,
            confidence=0.95,
            seed=0,
        ),
        repeats,
    )
    return {
        "gate_seconds": gate_times,
        "gate_median": statistics.median(gate_times),
        "mcnemar_gate_seconds": mcnemar_times,
        "mcnemar_gate_median": statistics.median(mcnemar_times),
        "bootstrap_only_seconds": boot_times,
        "bootstrap_only_median": statistics.median(boot_times),
        "outcome": decision.outcome,
        "mcnemar_outcome": mcnemar.outcome,
        "candidate_roc_auc": decision.primary.candidate,
        "champion_roc_auc": decision.primary.champion,
        "ci": [decision.primary.ci_low, decision.primary.ci_high],
        "mcnemar_p": mcnemar.primary.p_value,
        "numpy": np.__version__,
    }


def run_mlflow(rows: int, repeats: int, seed: int) -> dict[str, Any]:
    from tracking import ensure_mlflow_venv  # the sibling benchmark's venv helper

    python = ensure_mlflow_venv()
    log(f"MLflow: evaluate both models and validate against thresholds over {rows} rows")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [
            str(python),
            str(HERE / "_gates_mlflow.py"),
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--repeats",
            str(repeats),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the MLflow side failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["median"] = statistics.median(result["seconds"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
        },
        "rows": args.rows,
        "resamples": args.resamples,
        "repeats": args.repeats,
        "mloop": run_mloop(args.rows, args.resamples, args.repeats, args.seed),
    }
    if not args.skip_mlflow:
        result["mlflow"] = run_mlflow(args.rows, args.repeats, args.seed)
        result["ratio_mlflow_over_mloop"] = (
            result["mlflow"]["median"] / result["mloop"]["gate_median"]
        )
    result["machine"]["load_after"] = os.getloadavg()
    m = result["mloop"]
    print(
        f"mloop gate (bootstrap {args.resamples}): {m['gate_median']:.2f} s median "
        f"({m['outcome']}, CI {m['ci']})"
    )
    print(
        f"mloop gate (McNemar): {m['mcnemar_gate_median']:.2f} s; bootstrap alone: "
        f"{m['bootstrap_only_median']:.2f} s"
    )
    if "mlflow" in result:
        print(
            f"MLflow {result['mlflow']['mlflow']} evaluate x2 + validate: "
            f"{result['mlflow']['median']:.2f} s; MLflow / mloop = "
            f"{result['ratio_mlflow_over_mloop']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
