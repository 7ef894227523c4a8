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
    unknown = httpx.post(api, json={"name": "staged", "stages": ["Shipping"]})
    assert unknown.status_code == 400 and "Invalid Model Version stage" in unknown.text


def _latest(client: MlflowClient, name: str, stages: list[str] | None = None) -> dict[str, str]:
    return {v.current_stage: v.version for v in client.get_latest_versions(name, stages)}


def test_stages_through_mlflow_api(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("staging")
    for number in range(1, 5):
        client.create_model_version("staging", f"s3://bucket/model{number}", "")
    before = client.get_registered_model("staging").last_updated_timestamp
    moved = client.transition_model_version_stage("staging", "1", "production")
    assert moved.current_stage == "Production"
    assert client.get_registered_model("staging").last_updated_timestamp >= before
    client.transition_model_version_stage("staging", "2", "Staging")
    client.transition_model_version_stage("staging", "3", "Archived")
    assert _latest(client, "staging") == {
        "Production": "1",
        "Staging": "2",
        "Archived": "3",
        "None": "4",
    }
    assert _latest(client, "staging", ["staging", "None"]) == {"Staging": "2", "None": "4"}
    latest = client.get_registered_model("staging").latest_versions
    assert [(v.version, v.current_stage) for v in latest] == [
        ("1", "Production"),
        ("2", "Staging"),
        ("3", "Archived"),
        ("4", "None"),
    ]
    # Entering Production with archive_existing_versions archives the version there before.
    client.transition_model_version_stage("staging", "4", "Production", True)
    assert client.get_model_version("staging", "1").current_stage == "Archived"
    assert _latest(client, "staging") == {"Production": "4", "Staging": "2", "Archived": "3"}
    by_stage = client.search_model_versions("name = 'staging'")
    assert {v.version: v.current_stage for v in by_stage}["1"] == "Archived"
    # Stages are MLflow's: mloop's own API shows aliases, not stages.
    assert "stage" not in mloop.Client().get_model_version("staging", 4).model_dump()

    api = f"{mlflow_server}/api/2.0/mlflow/model-versions/transition-stage"
    bad = httpx.post(api, json={"name": "staging", "version": "4", "stage": "Live"})
    assert bad.status_code == 400 and "Invalid Model Version stage" in bad.text
    client.delete_model_version("staging", "2")
    with pytest.raises(MlflowException, match=r"Model Version .+ not found"):
        client.transition_model_version_stage("staging", "2", "Staging")
    assert "Staging" not in _latest(client, "staging")


def _versions_of(client: MlflowClient, **search: object) -> list[tuple[str, str]]:
    """(name, version) of every page of a model-version search, following the tokens."""
    found: list[tuple[str, str]] = []
    token = None
    while True:
        page = client.search_model_versions(page_token=token, **search)  # type: ignore[arg-type]
        found += [(v.name, v.version) for v in page]
        token = page.token
        if not token:
            return found


def test_search_model_versions_across_models(mlflow_server: str) -> None:
    client = MlflowClient()
    for name in ("alpha", "Beta", "beta2"):
        client.create_registered_model(name)
    made = []
    for name, run in (("alpha", "r1"), ("Beta", "r2"), ("alpha", "r1"), ("beta2", "r3")):
        made.append(client.create_model_version(name, f"runs:/{run}/model", run))
    client.set_model_version_tag("alpha", "2", "stage", "")
    client.delete_model_version("beta2", "1")

    newest_first = [("alpha", "2"), ("Beta", "1"), ("alpha", "1")]
    assert _versions_of(client) == newest_first
    assert _versions_of(client, max_results=1) == newest_first
    assert _versions_of(client, order_by=["name DESC"]) == [
        ("alpha", "2"),
        ("alpha", "1"),
        ("Beta", "1"),
    ]
    assert _versions_of(client, order_by=["version_number DESC"])[0] == ("alpha", "2")
    # LIKE is case-sensitive and ILIKE is not, on both databases.
    assert _versions_of(client, filter_string="name LIKE 'b%'") == []
    assert _versions_of(client, filter_string="name ILIKE 'b%'") == [("Beta", "1")]
    assert _versions_of(client, filter_string="name = 'missing'") == []
    assert _versions_of(client, filter_string="run_id = 'r1'") == [("alpha", "2"), ("alpha", "1")]
    assert _versions_of(client, filter_string="run_id IN ('r2', 'r3')") == [("Beta", "1")]
    assert _versions_of(client, filter_string="source_path = 'runs:/r2/model'") == [("Beta", "1")]
    assert _versions_of(client, filter_string="name = 'alpha' AND version_number > 1") == [
        ("alpha", "2")
    ]
    assert _versions_of(client, filter_string="tags.stage = ''") == [("alpha", "2")]
    assert client.get_model_version("alpha", "2").tags == {"stage": ""}


def test_search_model_versions_refusals(mlflow_server: str) -> None:
    url = f"{mlflow_server}/api/2.0/mlflow/model-versions/search"
    for params, words in (
        ({"max_results": "0"}, "must be a positive integer"),
        ({"max_results": "200001"}, "must be at most 200000"),
        ({"filter": "owner = 'x'"}, "cannot filter model versions by 'owner'"),
        ({"filter": "name = 'a' OR name = 'b'"}, "join clauses with AND"),
        ({"filter": "version_number = 'x'"}, "version_number"),
        ({"order_by": "size DESC"}, "invalid order_by clause"),
        ({"page_token": "not-a-token"}, "page_token"),
    ):
        answer = httpx.get(url, params=params)
        assert answer.status_code == 400, (params, answer.text)
        body = answer.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and words in body["message"]


def test_registry_errors_in_mlflow_words(mlflow_server: str) -> None:
    client = MlflowClient()
    client.create_registered_model("worded")
    client.create_model_version("worded", "runs:/r/model", "r")
    with pytest.raises(MlflowException, match=r"Registered Model \(name=worded\) already exists"):
        client.create_registered_model("worded")
    with pytest.raises(MlflowException, match="Registered Model with name=gone not found"):
        client.get_registered_model("gone")
    with pytest.raises(MlflowException, match=r"Model Version \(name=worded, version=7\) not"):
        client.get_model_version("worded", "7")
    client.delete_model_version("worded", "1")
    with pytest.raises(MlflowException, match=r"Model Version .+ not found"):
        client.update_model_version("worded", "1", description="x")
    with pytest.raises(MlflowException, match="Parameter 'version' must be an integer, got 'x'"):
        client.get_model_version("worded", "x")
    # The error names the model that is missing, not the one the request registers into.
    answer = httpx.post(
        f"{mlflow_server}/api/2.0/mlflow/model-versions/create",
        json={"name": "worded", "source": "models:/absent/1"},
    )
    assert answer.status_code == 404
    assert answer.json()["message"] == "Registered Model with name=absent not found"
    with pytest.raises(MlflowException, match=r"Model Version \(name=worded, version=1\) not"):
        client.copy_model_version("models:/worded/1", "worded")
