"""MLflow-format models: ``mlflow.<flavor>.log_model``, registration and loading, both ways."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

import mloop
from mloop.core.errors import ValidationError


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=["a", "b", "c"])
    return X, (X["a"] > 0).to_numpy().astype(int)


def test_log_register_and_load_an_mlflow_model(mlflow_server: str) -> None:
    X, y = _data()
    mlflow.set_experiment("mlflow-models")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y), name="model", input_example=X.head(2)
        )
    logged = MlflowClient().get_logged_model(info.model_id)
    assert logged.status.to_int() == 2  # READY
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
    assert [m.model_id for m in mlflow.search_logged_models(output_format="list")] == [
        info.model_id
    ]

    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "iris-like")
    MlflowClient().set_registered_model_alias("iris-like", "champion", version.version)
    by_mlflow = mlflow.pyfunc.load_model("models:/iris-like@champion")
    assert list(by_mlflow.predict(X.head(3))) == list(
        LogisticRegression().fit(X, y).predict(X.head(3))
    )

    # The same version in mloop: its files are in the run, its signature is readable, and
    # mloop loads the skops payload itself.
    ours = mloop.Client().get_model_version("iris-like", 1)
    assert ours.source.endswith(f"{run.info.run_id}/artifacts/model") and ours.flavor == "sklearn"
    assert [c["name"] for c in ours.signature["inputs"]["columns"]] == ["a", "b", "c"]
    loaded = mloop.load_model("models:/iris-like@champion")
    assert list(loaded.predict(X.head(3))) == list(by_mlflow.predict(X.head(3)))
    with pytest.raises(ValidationError, match="missing the required column 'c'"):
        loaded.predict(X[["a", "b"]])
    files = mloop.Client().list_artifacts(run.info.run_id, "model")
    assert "MLmodel" in {f.path.rsplit("/", 1)[-1] for f in files}


def test_log_model_with_registered_model_name(mlflow_server: str) -> None:
    X, y = _data()
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y), name="clf", registered_model_name="by-id"
        )
    version = MlflowClient().get_model_version("by-id", "1")
    assert version.source == f"models:/{info.model_id}" and version.run_id == info.run_id
    assert mloop.load_model("models:/by-id/1").predict(X.head(2)).shape == (2,)


def test_sklearn_autolog_with_models(mlflow_server: str) -> None:
    X, y = _data()
    mlflow.set_experiment("autolog-models")
    mlflow.sklearn.autolog(silent=True)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(C=0.5).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    seen = mloop.Client().get_run(run.info.run_id)
    assert seen.data.params["C"] == "0.5"
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "autologged")
    assert version.version == "1"
    # Autolog pickles models (MLflow's choice), so mloop loads them only when trusted.
    loaded = mloop.load_model("models:/autologged/1", trusted=True)
    assert loaded.predict(X.head(4)).shape == (4,)


def test_logged_model_errors(mlflow_server: str) -> None:
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    client = MlflowClient()
    with mlflow.start_run() as run:
        first = mlflow.sklearn.log_model(model, name="model")
        # A second model under the same name gets a root of its own (MLflow allows it),
        # so it cannot overwrite the first one's files.
        second = mlflow.sklearn.log_model(model, name="model")
    assert client.get_logged_model(first.model_id).artifact_location.endswith("/model")
    assert (
        f"/models/{second.model_id}/" in client.get_logged_model(second.model_id).artifact_location
    )
    # Unknown and malformed ids are both not found, as in MLflow.
    for model_id in ("m-" + "0" * 32, "not-an-id"):
        with pytest.raises(MlflowException) as info:
            client.get_logged_model(model_id)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string="name > 'm'"
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_pickled_mlflow_model_needs_trust(mlflow_server: str) -> None:
    X, y = _data()
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y), name="model", serialization_format="cloudpickle"
        )
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "pickled")
    with pytest.raises(ValidationError, match="pickle"):
        mloop.load_model("models:/pickled/1")
    assert mloop.load_model("models:/pickled/1", trusted=True).predict(X.head(2)).shape == (2,)


def test_hostile_mlmodel_is_refused(mlflow_server: str, tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "bad"  # type: ignore[operator]
    bad.mkdir()
    (bad / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: ../../../etc/passwd\n"
        "    serialization_format: skops\n"
    )
    with mloop.start_run() as run:
        mloop.log_artifacts(bad, "model")
    with pytest.raises(MlflowException) as info:
        mlflow.register_model(f"runs:/{run.info.run_id}/model", "hostile")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    (bad / "MLmodel").write_text("flavors: [not, a, mapping]\n")
    with mloop.start_run() as run:
        mloop.log_artifacts(bad, "model")
    with pytest.raises(MlflowException, match="flavors"):
        MlflowClient().create_model_version("hostile", f"runs:/{run.info.run_id}/model")
