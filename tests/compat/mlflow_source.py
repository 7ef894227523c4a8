"""Writes MLflow installations with the stock client, for the import tests.

Run as a script (``python mlflow_source.py DIR``) so that MLflow's process-wide state (tracking
URI, active run, environment) never leaks into the test process. In ``DIR`` it writes an
``mlruns`` file store, an ``mlflow.db`` SQLite store (artifacts under ``DIR``) and
``manifest.json``: for each store, the run ids by run name.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

T0 = 1_700_000_000_000  # the metric timestamps the tests expect


def _training_data() -> tuple[Any, Any]:
    import numpy as np

    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]])
    return x, np.array([0, 0, 0, 1, 1, 1])


def _log_model_run(experiment_id: str, run_name: str, c: float) -> str:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    x, y = _training_data()
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_param("C", c)
        mlflow.sklearn.log_model(
            LogisticRegression(C=c).fit(x, y),
            name="model",
            registered_model_name="churn-model",
            pip_requirements=["scikit-learn"],  # no inference: it starts a subprocess
        )
    return str(run.info.run_id)


def _log_search(experiment_id: str, ids: dict[str, str]) -> None:
    """A parent run with two nested trials, each with a metric history."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name="search") as parent:
        mlflow.log_param("grid", "small")
        mlflow.set_tag("team", "risk")
        for i in range(2):
            with mlflow.start_run(run_name=f"trial-{i}", nested=True) as child:
                mlflow.log_params({"lr": 0.1 * (i + 1), "depth": 3})
                for step in range(5):
                    value = 1.0 / (step + 1 + i)
                    mlflow.log_metric("loss", value, step=step, timestamp=T0 + step * 1000)
                ids[f"trial-{i}"] = child.info.run_id
        mlflow.log_metric("best_loss", 0.25)
    ids["search"] = parent.info.run_id


def _log_report(experiment_id: str, ids: dict[str, str], scratch: Path) -> None:
    """A run with artifacts (one nested two levels deep) and a dataset input."""
    import mlflow
    import pandas as pd

    (scratch / "data" / "nested").mkdir(parents=True)
    (scratch / "report.txt").write_text("all good\n")
    (scratch / "data" / "top.json").write_text('{"rows": 2}\n')
    (scratch / "data" / "nested" / "deep.csv").write_text("a,b\n1,2\n")
    with mlflow.start_run(experiment_id=experiment_id, run_name="report") as run:
        mlflow.log_artifact(str(scratch / "report.txt"))
        mlflow.log_artifacts(str(scratch / "data"), artifact_path="data")
        frame = pd.DataFrame({"x": [1, 2], "y": [0, 1]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train-set"), context="training")
    ids["report"] = run.info.run_id


def _log_registry(client: Any, experiment_id: str, ids: dict[str, str]) -> None:
    """Versions 1 and 2 from live runs, version 3 from a run deleted afterwards."""
    ids["model-1"] = _log_model_run(experiment_id, "model-1", 1.0)
    ids["model-2"] = _log_model_run(experiment_id, "model-2", 0.5)
    ids["discarded"] = _log_model_run(experiment_id, "discarded", 0.1)
    client.delete_run(ids["discarded"])
    client.update_registered_model("churn-model", description="predicts churn")
    client.set_registered_model_tag("churn-model", "owner", "risk-team")
    client.update_model_version("churn-model", "1", description="first try")
    client.set_model_version_tag("churn-model", "2", "validated", "yes")
    client.set_registered_model_alias("churn-model", "champion", "2")
    client.set_registered_model_alias("churn-model", "old", "3")


def _log_legacy(client: Any, experiment_id: str, ids: dict[str, str], scratch: Path) -> None:
    """MLflow 2's way: a model directory among the run's artifacts, registered by its URI."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    x, y = _training_data()
    mlflow.sklearn.save_model(
        LogisticRegression().fit(x, y), scratch / "legacy", pip_requirements=["scikit-learn"]
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name="legacy") as run:
        mlflow.log_artifacts(str(scratch / "legacy"), artifact_path="clf")
    client.create_registered_model("legacy-model")
    source = f"{run.info.artifact_uri}/clf"
    client.create_model_version("legacy-model", source, run_id=run.info.run_id)
    ids["legacy"] = run.info.run_id


def build(uri: str, artifacts: Path) -> dict[str, str]:
    """Fill the MLflow store at ``uri``; the run ids by run name."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()

    def experiment(name: str, **tags: str) -> str:
        return str(client.create_experiment(name, (artifacts / name).as_uri(), tags=tags))

    ids: dict[str, str] = {}
    churn = experiment("churn", team="risk")
    other = experiment("other")
    gone = experiment("gone")
    _log_search(churn, ids)
    with tempfile.TemporaryDirectory() as scratch:
        _log_report(churn, ids, Path(scratch))
        _log_legacy(client, other, ids, Path(scratch))
    _log_registry(client, churn, ids)
    crashed = client.create_run(other, run_name="crashed", start_time=T0)
    client.log_metric(crashed.info.run_id, "rows", 10.0, timestamp=T0 + 5, step=0)
    client.set_terminated(crashed.info.run_id, "FAILED", end_time=T0 + 60_000)
    ids["crashed"] = crashed.info.run_id
    ids["in-gone"] = client.create_run(gone, run_name="in-gone").info.run_id
    client.set_terminated(ids["in-gone"])
    client.delete_experiment(gone)
    return ids


def main(root: Path) -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.chdir(root)  # MLflow puts some default locations under the working directory
    manifest = {
        "file": build((root / "mlruns").as_uri(), root / "file-artifacts"),
        "sqlite": build(f"sqlite:///{root / 'mlflow.db'}", root / "sqlite-artifacts"),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
