"""The stock mlflow client drives mloop's registry: models, versions, tags and aliases."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

import mloop


def _logged_model_run() -> str:
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    with mloop.start_run() as run:
        mloop.sklearn.log_model(LogisticRegression().fit(X, y), "model", input_example=X[:2])
    return run.info.run_id


def test_registry_workflow_with_aliases(mlflow_server: str) -> None:
    run_id = _logged_model_run()
    client = MlflowClient()
    client.create_registered_model("churn", tags={"team": "risk"}, description="churn model")
    first = client.create_model_version("churn", f"runs:/{run_id}/model", run_id)
    second = client.create_model_version("churn", f"runs:/{run_id}/model", run_id)
    assert (first.version, second.version) == ("1", "2")

    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "champion", "2")
    by_alias = client.get_model_version_by_alias("churn", "champion")
    assert by_alias.version == "2" and "champion" in by_alias.aliases

    model = client.get_registered_model("churn")
    assert model.tags == {"team": "risk"} and model.description == "churn model"
    assert model.aliases == {"champion": "2"}
    assert sorted(v.version for v in client.search_model_versions("name = 'churn'")) == ["1", "2"]
    assert [m.name for m in client.search_registered_models("name LIKE '%chu%'")] == ["churn"]

    client.set_model_version_tag("churn", "2", "validated", "yes")
    assert client.get_model_version("churn", "2").tags == {"validated": "yes"}
    client.update_model_version("churn", "2", description="better")
    assert client.get_model_version("churn", "2").description == "better"

    # The same aliases and history in mloop, with the move recorded.
    history = mloop.Client().get_alias_history("churn", "champion")
    assert [(e.from_version, e.to_version) for e in history] == [(None, 1), (1, 2)]
    loaded = mloop.load_model("models:/churn@champion")
    assert loaded.predict(np.zeros((2, 3))).shape == (2,)

    client.delete_registered_model_alias("churn", "champion")
    with pytest.raises(MlflowException) as info:
        client.get_model_version_by_alias("churn", "champion")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_registry_errors(mlflow_server: str) -> None:
    client = MlflowClient()
    with pytest.raises(MlflowException) as info:
        client.get_registered_model("missing")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model("twice")
    with pytest.raises(MlflowException) as info:
        client.create_registered_model("twice")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # A run mloop does not hold is recorded as given, as MLflow does (no files to load).
    ghost = client.create_model_version("twice", "runs:/" + "0" * 32 + "/model", "0" * 32)
    assert ghost.status == "READY" and ghost.source == "runs:/" + "0" * 32 + "/model"


def test_registry_filters() -> None:
    from mloop.compat.mlflow.registry import _clauses, _matches
    from mloop.core.errors import ValidationError

    text = "name ILIKE 'CH%' AND tag.`mlflow.prompt.is_prompt` != 'true' AND tags.team = 'risk'"
    clauses = _clauses({"filter": text})
    assert _matches("churn", {"team": "risk"}, clauses)
    assert not _matches("churn", {"team": "risk", "mlflow.prompt.is_prompt": "true"}, clauses)
    assert not _matches("fraud", {"team": "risk"}, clauses)
    assert _matches("it's", {}, _clauses({"filter": "name = 'it''s'"}))
    with pytest.raises(ValidationError, match="unsupported filter clause \"name > 'a'\""):
        _clauses({"filter": "name > 'a'"})
    with pytest.raises(ValidationError, match=r"unsupported filter clause .* OR "):
        _clauses({"filter": "name = 'a' OR name = 'b'"})


def test_latest_versions_by_get_and_post_with_stages(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("staged")
    assert client.get_latest_versions("staged") == []
    client.create_model_version("staged", "s3://bucket/model", "")
    client.create_model_version("staged", "s3://bucket/model2", "")
    assert [v.version for v in client.get_latest_versions("staged")] == ["2"]
    # Stages are not kept: every version is in "None", none in "Production".
    assert [v.version for v in client.get_latest_versions("staged", stages=["None"])] == ["2"]
    assert client.get_latest_versions("staged", stages=["Production"]) == []
    api = f"{mlflow_server}/api/2.0/mlflow/registered-models/get-latest-versions"
    answer = httpx.get(api, params={"name": "staged"})
    assert [v["version"] for v in answer.json()["model_versions"]] == ["2"]
    assert httpx.get(api, params={"name": "staged", "stages": "Staging"}).json() == {
        "model_versions": []
    }
    posted = httpx.post(api, json={"name": "staged", "stages": ["none"]})
    assert [v["version"] for v in posted.json()["model_versions"]] == ["2"]
    refused = httpx.post(api, json={"name": "staged", "stages": {"a": 1}})
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
