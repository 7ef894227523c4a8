"""MLflow half of ``benchmarks/gates.py``: runs in ``benchmarks/.venvs/mlflow``.

Trains the same two logistic regressions on the same rows as the mloop side, logs them to a
fresh local MLflow store, then times MLflow's gate: ``mlflow.models.evaluate`` of the
candidate and of the baseline (MLflow 3 evaluates them separately) and
``mlflow.validate_evaluation_results`` with thresholds against the baseline (ROC AUC must
improve, accuracy at least 0.5). Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, os.path.dirname(__file__))

import mlflow
import mlflow.sklearn
from _gates_data import CANDIDATE_FEATURES, CHAMPION_FEATURES, FEATURES, make_frame
from mlflow.models import MetricThreshold
from sklearn.linear_model import LogisticRegression


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train = make_frame(args.rows, args.seed + 1)
    test = make_frame(args.rows, args.seed)
    store = tempfile.mkdtemp(prefix="mlflow-gates-")
    # Artifacts default to ./mlruns under the working directory: keep them in the store.
    os.chdir(store)
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    uris = {}
    for name, features in (("champion", CHAMPION_FEATURES), ("candidate", CANDIDATE_FEATURES)):
        # Every feature column goes in: evaluate passes the whole frame but the target.
        cols = FEATURES
        model = LogisticRegression().fit(
            train[cols].assign(**{c: 0.0 for c in cols if c not in features}), train["default"]
        )
        with mlflow.start_run():
            uris[name] = mlflow.sklearn.log_model(model, name="model").model_uri
    data = test[[*FEATURES, "default"]]
    thresholds = {
        # MLflow wants a positive change: 1e-9 stands for "must beat".
        "roc_auc": MetricThreshold(greater_is_better=True, min_absolute_change=1e-9),
        "accuracy_score": MetricThreshold(greater_is_better=True, threshold=0.5),
    }
    times = []
    passed = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        with mlflow.start_run():
            candidate = mlflow.models.evaluate(
                uris["candidate"], data, targets="default", model_type="classifier"
            )
        with mlflow.start_run():
            baseline = mlflow.models.evaluate(
                uris["champion"], data, targets="default", model_type="classifier"
            )
        try:
            mlflow.validate_evaluation_results(thresholds, candidate, baseline)
            passed = True
        except Exception as exc:  # ModelValidationFailedException: the gate failed
            passed = type(exc).__name__ != "ModelValidationFailedException" and None
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "rows": args.rows,
                "seconds": times,
                "passed": passed,
                "candidate_roc_auc": candidate.metrics.get("roc_auc"),
                "champion_roc_auc": baseline.metrics.get("roc_auc"),
            }
        )
    )


if __name__ == "__main__":
    main()
