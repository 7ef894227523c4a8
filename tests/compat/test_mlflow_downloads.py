"""``/get-artifact`` and ``/model-versions/get-artifact``: MLflow's file downloads."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

import mloop
from mloop.client.registry_fluent import download_model


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    return str(response.json()["message"])


def test_a_runs_file_downloads_and_paths_cannot_leave_it(
    mlflow_server: str, tmp_path: Path
) -> None:
    client = MlflowClient()
    run = client.create_run(client.create_experiment("files"))
    local = tmp_path / "notes.txt"
    local.write_text("hello")
    client.log_artifact(run.info.run_id, str(local), artifact_path="docs")
    url = f"{mlflow_server}/get-artifact"
    ok = httpx.get(url, params={"run_id": run.info.run_id, "path": "docs/notes.txt"})
    assert ok.status_code == 200 and ok.content == b"hello"
    for bad in ("../path", "docs/../../x", "/etc/passwd", "a\\b"):
        answer = httpx.get(url, params={"run_id": run.info.run_id, "path": bad})
        assert _error(answer, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"
    assert "path" in _error(
        httpx.get(url, params={"run_id": run.info.run_id}), 400, "INVALID_PARAMETER_VALUE"
    )
    for missing in ({"run_id": run.info.run_id, "path": "docs"}, {"run_id": "0" * 32, "path": "x"}):
        _error(httpx.get(url, params=missing), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_versions_file_downloads(mlflow_server: str) -> None:
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with mloop.start_run() as run:
        mloop.sklearn.log_model(model, "model")
    mloop.register_model(f"runs:/{run.info.run_id}/model", "downloads")
    url = f"{mlflow_server}/model-versions/get-artifact"
    first = mloop.Client().list_model_version_files("downloads", 1)[0]
    ok = httpx.get(url, params={"name": "downloads", "version": "1", "path": first})
    model_dir = download_model("models:/downloads/1")
    assert ok.status_code == 200 and ok.content == (model_dir / first).read_bytes()
    bad = httpx.get(url, params={"name": "downloads", "version": "1", "path": "../path"})
    assert _error(bad, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"
    for missing in ({"version": "2", "path": first}, {"version": "1", "path": "nope"}):
        answer = httpx.get(url, params={"name": "downloads", **missing})
        _error(answer, 404, "RESOURCE_DOES_NOT_EXIST")
    _error(
        httpx.get(url, params={"name": "downloads", "version": "x", "path": first}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
