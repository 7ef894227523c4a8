"""Model-version sources as MLflow's server accepts them, and registered-model rename.

The stock client registers versions from ``s3://``, local paths, logged models and runs mloop
never saw; mloop records each source as given, copies the files it can read into the registry,
and refuses at load time, naming the version and its source, when it holds no files.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from tests.conftest import ServerHandle

import mloop
from mloop.core.errors import NotFoundError

API = "/api/2.0/mlflow"
X = np.random.default_rng(0).normal(size=(30, 3))
Y = (X[:, 0] > 0).astype(int)


def _mloop_model_run() -> str:
    with mloop.start_run() as run:
        mloop.sklearn.log_model(LogisticRegression().fit(X, Y), "model")
    return run.info.run_id


def _run_dir(server: ServerHandle, run_id: str) -> Path:
    """The run's artifact directory on the server's disk (the test store is local)."""
    info = MlflowClient().get_run(run_id).info
    return Path(server.runtime.artifacts.root) / info.artifact_uri.split(":", 1)[1].lstrip("/")


def _refused(call: object, code: str = "INVALID_PARAMETER_VALUE") -> str:
    with pytest.raises(MlflowException) as info:
        call()  # type: ignore[operator]
    assert info.value.error_code == code
    return str(info.value.message)


def test_sources_mloop_cannot_read_are_recorded_without_files(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("external")
    s3 = client.create_model_version("external", "s3://bucket/models/churn", run_id=None)
    assert (s3.version, s3.status, s3.source, s3.run_id) == (
        "1",
        "READY",
        "s3://bucket/models/churn",
        "",
    )
    ghost_run = "ab" * 16
    ghost = client.create_model_version("external", f"runs:/{ghost_run}/model", ghost_run)
    assert (ghost.source, ghost.run_id) == (f"runs:/{ghost_run}/model", ghost_run)
    assert [v.version for v in client.search_model_versions("name = 'external'")] == ["2", "1"]

    # The client can fetch s3 itself: the download URI is the source, as with MLflow.
    assert client.get_model_version_download_uri("external", "1") == "s3://bucket/models/churn"
    for version, source in (("1", "s3://bucket/models/churn"), ("2", f"runs:/{ghost_run}/model")):
        with pytest.raises(NotFoundError) as info:
            mloop.load_model(f"models:/external/{version}")
        message = info.value.message
        assert f"version {version} of model 'external' has no files in mloop" in message
        assert repr(source) in message
        with pytest.raises(NotFoundError, match="has no files in mloop"):
            mloop.Client().list_model_version_files("external", version)
    # As MLflow's server does, a runs:/ source is handed back; the client then asks for the
    # run, which mloop answers as missing.
    assert client.get_model_version_download_uri("external", "2") == f"runs:/{ghost_run}/model"
    assert "RESOURCE_DOES_NOT_EXIST" in _refused(
        lambda: mlflow.pyfunc.load_model("models:/external/2"), "RESOURCE_DOES_NOT_EXIST"
    )


def test_runs_source_of_a_held_run_is_copied_and_kept_as_given(mlflow_server: str) -> None:
    run_id = _mloop_model_run()
    client = MlflowClient()
    client.create_registered_model("held")
    version = client.create_model_version("held", f"runs:/{run_id}/model", run_id)
    assert version.source == f"runs:/{run_id}/model" and version.run_id == run_id
    ours = mloop.Client().get_model_version("held", 1)
    assert ours.flavor == "sklearn" and len(ours.sha256) == 64
    assert mloop.load_model("models:/held/1").predict(X[:2]).shape == (2,)
    # A directory without a model file: recorded, no files.
    with mloop.start_run() as run:
        mloop.log_text("not a model", "notes/readme.txt")
    bare = client.create_model_version("held", f"runs:/{run.info.run_id}/notes", run.info.run_id)
    assert bare.status == "READY"
    assert mloop.Client().get_model_version("held", 2).sha256 == ""
    with pytest.raises(NotFoundError, match="version 2 of model 'held' has no files"):
        mloop.load_model("models:/held/2")
    # MLflow's rule: the run_id given must be the run of a runs:/ source.
    assert "run_id request parameter" in _refused(
        lambda: client.create_model_version("held", f"runs:/{run_id}/model", "cd" * 16)
    )


def test_local_paths_only_inside_the_runs_artifact_directory(
    mlflow_server: str, server: ServerHandle, tmp_path: Path
) -> None:
    run_id = _mloop_model_run()
    model_dir = _run_dir(server, run_id) / "model"
    assert (
        (model_dir / "MLmodel").exists()
        or (model_dir / "mloop_model.json").exists()
        or any(model_dir.iterdir())
    )
    client = MlflowClient()
    client.create_registered_model("local")
    plain = client.create_model_version("local", str(model_dir), run_id)
    as_uri = client.create_model_version("local", model_dir.as_uri(), run_id)
    assert (plain.source, as_uri.source) == (str(model_dir), model_dir.as_uri())
    for version in ("1", "2"):
        loaded = mloop.load_model(f"models:/local/{version}")
        assert loaded.predict(X[:2]).shape == (2,)

    # Outside the run's directory, or without a run: refused, nothing is copied.
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "MLmodel").write_text("flavors: {}\n")
    for source, run in (
        (str(secret), run_id),
        (secret.as_uri(), run_id),
        (str(model_dir), None),
        (str(model_dir), "ef" * 16),
        (f"{model_dir}/../../../..", run_id),
    ):
        _refused(lambda s=source, r=run: client.create_model_version("local", s, r))
    assert [v.version for v in client.search_model_versions("name = 'local'")] == ["2", "1"]


def test_logged_model_source_and_path_traversal(mlflow_server: str) -> None:
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, Y), name="clf")
    client = MlflowClient()
    client.create_registered_model("logged")
    version = client.create_model_version(
        "logged", f"models:/{info.model_id}", run.info.run_id, model_id=info.model_id
    )
    assert version.source == f"models:/{info.model_id}" and version.run_id == run.info.run_id
    assert mloop.load_model("models:/logged/1").predict(X[:2]).shape == (2,)
    # A logged model mloop does not hold, and a source of another logged model.
    missing = "m-" + "0" * 32
    assert "model_id request parameter" in _refused(
        lambda: client.create_model_version("logged", f"models:/{missing}", model_id=missing)
    )
    assert "model_id request parameter" in _refused(
        lambda: client.create_model_version("logged", f"models:/{missing}", model_id=info.model_id)
    )
    for source in (
        "s3://bucket/a/../../b",
        "mlflow-artifacts:/experiments/..%2f..%2fetc",
        "http://host/api/2.0/mlflow-artifacts/artifacts/%252e%252e/x",
    ):
        assert "relative references" in _refused(
            lambda s=source: client.create_model_version("logged", s)
        )


def test_rename_moves_versions_tags_and_aliases(mlflow_server: str) -> None:
    run_id = _mloop_model_run()
    client = MlflowClient()
    client.create_registered_model("old-name", tags={"team": "risk"})
    client.create_model_version("old-name", f"runs:/{run_id}/model", run_id, tags={"v": "1"})
    client.set_registered_model_alias("old-name", "champion", "1")

    client.rename_registered_model("old-name", "new-name")
    renamed = client.get_registered_model("new-name")
    assert renamed.name == "new-name" and renamed.tags == {"team": "risk"}
    assert renamed.aliases == {"champion": "1"}
    assert client.get_model_version("new-name", "1").tags == {"v": "1"}
    assert client.get_model_version_by_alias("new-name", "champion").version == "1"
    history = mloop.Client().get_alias_history("new-name", "champion")
    assert [(e.from_version, e.to_version) for e in history] == [(None, 1)]
    _refused(lambda: client.get_registered_model("old-name"), "RESOURCE_DOES_NOT_EXIST")

    # The old name is free again; its new version 1 does not disturb the renamed one's files.
    client.create_registered_model("old-name")
    client.create_model_version("old-name", f"runs:/{run_id}/model", run_id)
    client.delete_registered_model("old-name")
    assert mloop.load_model("models:/new-name@champion").predict(X[:2]).shape == (2,)

    client.create_registered_model("taken")
    assert "already exists" in _refused(
        lambda: client.rename_registered_model("new-name", "taken"), "RESOURCE_ALREADY_EXISTS"
    )
    _refused(lambda: client.rename_registered_model("nope", "other"), "RESOURCE_DOES_NOT_EXIST")
    # A change of case only is a rename of the same model.
    client.rename_registered_model("new-name", "New-Name")
    assert client.get_registered_model("New-Name").name == "New-Name"


def test_bad_requests_are_refused_with_mlflow_codes(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("strict")
    post = f"{mlflow_server}{API}"
    for body in (
        {"name": "strict"},
        {"name": "strict", "new_name": ["x"]},
        {"name": "strict", "new_name": {"a": 1}},
        {"name": ["strict"], "new_name": "x"},
        {"name": "strict", "new_name": "bad name!"},
    ):
        answer = httpx.post(f"{post}/registered-models/rename", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for body in (
        {"name": "strict"},
        {"name": "strict", "source": ["s3://x"]},
        {"name": "strict", "source": "s3://x", "run_id": {"a": 1}},
        {"name": "strict", "source": "s3://x", "model_id": [1]},
        {"name": "strict", "source": "s3://x", "tags": "t"},
        {"name": "strict", "source": "relative/path"},
    ):
        answer = httpx.post(f"{post}/model-versions/create", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model("strict").latest_versions == []


def test_runs_sources_mloop_does_not_hold_are_recorded_unchecked(mlflow_server: str) -> None:
    post = f"{mlflow_server}{API}"
    client = MlflowClient()
    client.create_registered_model("unchecked")
    # MLflow records any runs:/ source of a run it does not hold, even one whose id is no id.
    version = client.create_model_version("unchecked", "runs:/run_id/model", "run_id_1")
    assert (version.source, version.run_id, version.status) == (
        "runs:/run_id/model",
        "run_id_1",
        "READY",
    )
    assert client.get_model_version_download_uri("unchecked", "1") == "runs:/run_id/model"
    assert mloop.Client().get_model_version("unchecked", 1).sha256 == ""
    # A copy of it (models:/<name>/<version>) answers with the source it copies.
    client.set_registered_model_alias("unchecked", "base", "1")
    copy = client.copy_model_version("models:/unchecked@base", "unchecked")
    assert client.get_model_version("unchecked", copy.version).source == "models:/unchecked/1"
    assert client.get_model_version_download_uri("unchecked", "2") == "runs:/run_id/model"
    # '..' is refused in every source, worded as MLflow's clients expect.
    for source in ("runs:/run_id/../../etc", "mlflow-artifacts://host:9000/models/../../"):
        answer = httpx.post(
            f"{post}/model-versions/create",
            json={"name": "unchecked", "source": source, "run_id": "run_id"},
        )
        assert answer.status_code == 400, answer.text
        assert "If supplying a source as an http, https," in answer.json()["message"]
    assert [v.version for v in client.search_model_versions("name = 'unchecked'")] == ["2", "1"]


def test_mlflow_artifacts_sources_with_a_run_id(mlflow_server: str) -> None:
    run_id = _mloop_model_run()
    client = MlflowClient()
    client.create_registered_model("proxied")
    artifact_uri = client.get_run(run_id).info.artifact_uri
    inside = client.create_model_version("proxied", f"{artifact_uri}/model", run_id)
    assert inside.run_id == run_id
    assert len(mloop.Client().get_model_version("proxied", 1).sha256) == 64
    assert mloop.load_model("models:/proxied/1").predict(X[:2]).shape == (2,)
    # Outside that run's artifacts: recorded as given with no files, as MLflow accepts it.
    for number, source in enumerate(
        ("mlflow-artifacts:/models", "mlflow-artifacts://host:9000/models/artifact/..../"), 2
    ):
        outside = client.create_model_version("proxied", source, run_id)
        assert (outside.version, outside.source, outside.run_id) == (str(number), source, run_id)
        assert mloop.Client().get_model_version("proxied", number).sha256 == ""


def test_registering_a_logged_model_lists_the_version_on_it(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("listed")
    experiment_id = client.create_experiment("listed-models")
    model = client.create_logged_model(experiment_id=experiment_id)
    for _ in range(2):
        client.create_model_version("listed", model.artifact_location, model_id=model.model_id)
    tags = client.get_logged_model(model.model_id).tags
    assert tags["mlflow.modelVersions"] == (
        '[{"name": "listed", "version": 1}, {"name": "listed", "version": 2}]'
    )
