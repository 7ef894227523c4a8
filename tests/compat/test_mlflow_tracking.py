"""The unmodified mlflow client logs to an mloop server, and both see the same runs."""

from __future__ import annotations

import math

import httpx
import mlflow
import pytest
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mloop


def test_training_script_logs_through_mlflow(mlflow_server: str) -> None:
    mlflow.set_experiment("from-mlflow")
    with mlflow.start_run(run_name="sgd") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"model": "sgd", "epochs": 3})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"auc": 0.9, "odd": float("nan")})
        mlflow.set_tag("team", "risk")
    run_id = run.info.run_id

    seen = mloop.Client().get_run(run_id)
    assert seen.info.status == "FINISHED" and seen.info.run_name == "sgd"
    assert seen.data.params == {"lr": "0.01", "model": "sgd", "epochs": "3"}
    assert seen.data.metrics["loss"] == pytest.approx(1 / 3)
    assert math.isnan(seen.data.metrics["odd"])
    assert seen.data.tags["team"] == "risk"

    fetched = MlflowClient().get_run(run_id)
    assert fetched.data.params["model"] == "sgd"
    assert fetched.data.metrics["auc"] == pytest.approx(0.9)
    history = MlflowClient().get_metric_history(run_id, "loss")
    assert [(m.step, round(m.value, 4)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.3333)]


def test_mloop_runs_are_visible_to_mlflow_search(mlflow_server: str) -> None:
    mloop.set_experiment("shared")
    for i, model in enumerate(["lgbm", "rf", "lgbm"]):
        with mloop.start_run(run_name=f"r{i}"):
            mloop.log_param("model", model)
            mloop.log_metric("auc", 0.7 + i / 10)
    experiment = mlflow.get_experiment_by_name("shared")
    assert experiment is not None
    found = MlflowClient().search_runs(
        [experiment.experiment_id],
        filter_string="params.model = 'lgbm' and metrics.auc > 0.75",
        order_by=["metrics.auc DESC"],
    )
    assert [r.info.run_name for r in found] == ["r2"]
    frame = mlflow.search_runs(experiment_names=["shared"], order_by=["metrics.auc ASC"])
    assert list(frame["tags.mlflow.runName"]) == ["r0", "r1", "r2"]


def test_log_batch_and_its_limits(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("batches")
    run = client.create_run(experiment_id)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("m", float(i), 1000 + i, i) for i in range(1000)],
        params=[Param(f"p{i}", str(i)) for i in range(10)],
    )
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1000
    # The client splits big batches itself; the server enforces MLflow's limits for others.
    too_many = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    response = httpx.post(
        f"{mlflow_server}/api/2.0/mlflow/runs/log-batch",
        json={"run_id": run.info.run_id, "metrics": too_many},
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "at most 1000 metrics" in response.json()["message"]
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1000


def test_errors_have_mlflow_codes(mlflow_server: str) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as info:
        client.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_experiment("dupe")
    with pytest.raises(MlflowException) as info:
        client.create_experiment("dupe")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(client.get_experiment_by_name("dupe").experiment_id)
    client.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as info:
        client.log_param(run.info.run_id, "lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_experiment_lifecycle_and_tags(mlflow_server: str) -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("lifecycle", tags={"owner": "ml"})
    client.set_experiment_tag(experiment_id, "stage", "dev")
    assert client.get_experiment(experiment_id).tags == {"owner": "ml", "stage": "dev"}
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    client.restore_experiment(experiment_id)
    names = [e.name for e in client.search_experiments(filter_string="name = 'lifecycle'")]
    assert names == ["lifecycle"]


def test_artifacts_round_trip_through_the_proxy(mlflow_server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import os

    (tmp_path / "notes.txt").write_text("hello")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.json").write_text("{}")
    (tree / "sub" / "b.csv").write_text("x,y\n1,2\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(tree), artifact_path="data")
        mlflow.log_artifact(str(big), artifact_path="blobs")
    run_id = run.info.run_id

    client = MlflowClient()
    assert sorted(f.path for f in client.list_artifacts(run_id)) == ["blobs", "data", "notes.txt"]
    listed = {f.path: f for f in client.list_artifacts(run_id, "data")}
    assert listed["data/sub"].is_dir and listed["data/a.json"].file_size == 2
    (tmp_path / "out").mkdir()
    out = client.download_artifacts(run_id, "data", str(tmp_path / "out"))
    assert (tmp_path / "out" / "data" / "sub" / "b.csv").read_text() == "x,y\n1,2\n"
    assert out.endswith("data")
    (tmp_path / "dl").mkdir()
    got = client.download_artifacts(run_id, "blobs/big.bin", str(tmp_path / "dl"))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    with open(got, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest

    # The same files, with their sha256 recorded, through mloop's own API.
    files = {f.path: f for f in mloop.Client().list_artifacts(run_id, "blobs")}
    assert files["blobs/big.bin"].sha256 == digest


def test_artifact_proxy_refuses_paths_outside_runs(mlflow_server: str) -> None:
    response = httpx.put(
        f"{mlflow_server}/api/2.0/mlflow-artifacts/artifacts/models/x/1/model.pkl", content=b"x"
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    response = httpx.get(f"{mlflow_server}/api/2.0/mlflow-artifacts/artifacts/../../etc/passwd")
    assert response.status_code in (400, 404)


def test_sklearn_autolog_without_models(mlflow_server: str) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        X = np.random.default_rng(0).normal(size=(40, 3))
        y = (X[:, 0] > 0).astype(int)
        with mlflow.start_run() as run:
            LogisticRegression(C=0.5).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    seen = mloop.Client().get_run(run.info.run_id)
    assert seen.data.params["C"] == "0.5"
    assert "training_accuracy_score" in seen.data.metrics
    assert seen.data.tags["estimator_name"] == "LogisticRegression"


def test_metric_history_pages_with_mlflow_tokens(
    mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``metrics/get-history`` honours max_results/page_token and says when more follows;
    the stock client follows the tokens to the whole history (issue 11)."""
    from mloop.tracking import ingest

    monkeypatch.setattr(ingest, "MAX_HISTORY_PAGE", 10, raising=False)
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("paged")).info.run_id
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1000 + i, i) for i in range(25)])
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(25))

    url = f"{mlflow_server}/api/2.0/mlflow/metrics/get-history"
    steps: list[int] = []
    params: dict[str, str | int] = {"run_id": run_id, "metric_key": "m", "max_results": 4}
    for _ in range(20):  # bounded: 25 values in pages of 4 need 7 requests
        response = httpx.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        steps += [int(m["step"]) for m in body["metrics"]]
        if not body.get("next_page_token"):
            break
        params["page_token"] = body["next_page_token"]
    assert steps == list(range(25))

    # Without max_results a page holds at most the page size, and says that more follows.
    body = httpx.get(url, params={"run_id": run_id, "metric_key": "m"}).json()
    assert len(body["metrics"]) == 10 and body["next_page_token"]

    for bad in ({"max_results": 0}, {"page_token": "garbage"}):
        response = httpx.get(url, params={"run_id": run_id, "metric_key": "m", **bad})
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert next(iter(bad)) in response.json()["message"]
