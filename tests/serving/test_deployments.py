"""Endpoints and deployments through the SDK: deploy, change weights, promote, roll back,
the audit trail, and a model that fails to load leaving the endpoint as it was."""

from __future__ import annotations

from typing import Any

import pytest
from tests.serving.serving_testing import call, variant

import mloop
from mloop.core.errors import ConflictError, NotFoundError, ValidationError


@pytest.fixture(params=["embedded", "remote"])
def mode(request: pytest.FixtureRequest, models: dict[str, Any]) -> str:
    if request.param == "remote":
        request.getfixturevalue("remote")
    return str(request.param)


def test_create_get_list_and_names_unique_in_any_case(mode: str) -> None:
    created = call("create_endpoint", name="churn-api", description="churn scores")
    assert created.name == "churn-api" and created.current_deployment is None
    assert call("get_endpoint", name="churn-api").description == "churn scores"
    with pytest.raises(ConflictError, match="'Churn-API' clashes with 'churn-api'"):
        call("create_endpoint", name="Churn-API")
    with pytest.raises(ValidationError, match="endpoint name 'bad name' may only contain"):
        call("create_endpoint", name="bad name")
    call("create_endpoint", name="other")
    assert [e.name for e in call("list_endpoints").endpoints] == ["churn-api", "other"]
    assert [e.name for e in call("list_endpoints", name_contains="CHURN").endpoints] == [
        "churn-api"
    ]


def test_deploy_resolves_alias_and_audits(mode: str) -> None:
    mloop.set_alias("churn", "champion", 1)
    call("create_endpoint", name="churn-api")
    deployed = call(
        "deploy",
        endpoint="churn-api",
        variants=[variant("churn", alias="champion")],
        reason="first release",
    )
    assert deployed.strategy == "single" and deployed.state == "active"
    only = deployed.variants[0]
    assert (only.name, only.model, only.version, only.alias, only.weight, only.role) == (
        "stable",
        "churn",
        1,
        "champion",
        100,
        "stable",
    )
    # Moving the alias later does not move the deployment: it was resolved at deploy time.
    mloop.set_alias("churn", "champion", 2)
    status = call("endpoint_status", name="churn-api")
    assert status.deployment.variants[0].version == 1 and status.previous is None
    [event] = call("list_deployment_events", endpoint="churn-api").events
    assert (event.kind, event.from_deployment, event.to_deployment, event.reason) == (
        "deploy",
        None,
        deployed.id,
        "first release",
    )
    assert event.detail["variants"][0]["version"] == 1 and event.actor


def test_canary_weights_promote_and_rollback(mode: str) -> None:
    call("create_endpoint", name="churn-api")
    first = call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    canary = call(
        "deploy",
        endpoint="churn-api",
        strategy="canary",
        variants=[variant("churn", version=1), variant("churn", version=2, weight=10)],
    )
    assert {v.name: v.weight for v in canary.variants} == {"stable": 90, "candidate": 10}
    assert canary.previous_id == first.id
    widened = call(
        "set_traffic_weights", endpoint="churn-api", weights={"stable": 75, "candidate": 25}
    )
    assert {v.name: v.weight for v in widened.variants} == {"stable": 75, "candidate": 25}
    with pytest.raises(ValidationError, match="add up to 110; they must add up to 100"):
        call("set_traffic_weights", endpoint="churn-api", weights={"stable": 85})
    promoted = call("promote_candidate", endpoint="churn-api", reason="healthy")
    assert promoted.strategy == "single"
    assert [(v.name, v.version, v.weight) for v in promoted.variants] == [("candidate", 2, 100)]
    back = call("rollback", endpoint="churn-api", reason="bad outcomes")
    assert back.id == widened.id and back.state == "active"
    status = call("endpoint_status", name="churn-api")
    assert status.endpoint.current_deployment == widened.id
    assert status.previous is not None and status.previous.id == canary.id
    kinds = [
        (e.kind, e.from_deployment, e.to_deployment)
        for e in call("list_deployment_events", endpoint="churn-api").events
    ]
    assert kinds == [
        ("rollback", promoted.id, widened.id),
        ("promote", widened.id, promoted.id),
        ("weights", canary.id, widened.id),
        ("deploy", first.id, canary.id),
        ("deploy", None, first.id),
    ]


def test_blue_green_promote_swaps_and_rollback_swaps_back(mode: str) -> None:
    call("create_endpoint", name="churn-api")
    blue_green = call(
        "deploy",
        endpoint="churn-api",
        strategy="blue_green",
        variants=[variant("churn", version=1), variant("churn", version=2)],
    )
    assert [(v.name, v.role, v.weight) for v in blue_green.variants] == [
        ("blue", "stable", 100),
        ("green", "candidate", 0),
    ]
    with pytest.raises(ValidationError, match="promote the candidate to switch"):
        call("set_traffic_weights", endpoint="churn-api", weights={"green": 50})
    switched = call("promote_candidate", endpoint="churn-api")
    assert switched.strategy == "blue_green"
    assert [(v.name, v.role, v.weight) for v in switched.variants] == [
        ("blue", "candidate", 0),
        ("green", "stable", 100),
    ]
    assert call("rollback", endpoint="churn-api").id == blue_green.id


def test_bad_deployments_are_refused_naming_the_field(mode: str) -> None:
    call("create_endpoint", name="churn-api")
    with pytest.raises(NotFoundError, match="endpoint 'nope' does not exist"):
        call("deploy", endpoint="nope", variants=[variant("churn", version=1)])
    with pytest.raises(ValidationError, match="must name either a version or an alias") as err:
        call("deploy", endpoint="churn-api", variants=[variant("churn")])
    assert err.value.field == "variants[0].version"
    with pytest.raises(NotFoundError, match="version 9 of model 'churn' does not exist") as err:
        call("deploy", endpoint="churn-api", variants=[variant("churn", version=9)])
    assert err.value.field == "variants[0].version"
    with pytest.raises(NotFoundError, match="model 'churn' has no alias 'gold'"):
        call("deploy", endpoint="churn-api", variants=[variant("churn", alias="gold")])
    with pytest.raises(ValidationError, match="weight is missing: give a canary candidate"):
        call(
            "deploy",
            endpoint="churn-api",
            strategy="canary",
            variants=[variant("churn", version=1), variant("churn", version=2)],
        )
    with pytest.raises(ValidationError, match="a single deployment has exactly one variant"):
        call(
            "deploy",
            endpoint="churn-api",
            variants=[variant("churn", version=1), variant("churn", version=2)],
        )
    with pytest.raises(ValidationError, match="has no deployment yet"):
        call("rollback", endpoint="churn-api")
    assert call("list_deployment_events", endpoint="churn-api").events == []


def test_model_that_fails_to_load_leaves_the_previous_deployment(mode: str, features: Any) -> None:
    """A pickled model needs trust to load: deploying it untrusted is refused, and the
    endpoint keeps serving what it served."""
    from sklearn.linear_model import LogisticRegression

    labels = (features["a"] > 0).astype(int)
    with mloop.start_run():
        info = mloop.sklearn.log_model(
            LogisticRegression().fit(features, labels),
            "model",
            input_example=features.iloc[:3],
            serialization="pickle",
            trusted=True,
        )
    pickled = mloop.register_model(info.model_uri, "churn").version
    call("create_endpoint", name="churn-api")
    first = call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    with pytest.raises(ValidationError, match="was saved with pickle") as err:
        call("deploy", endpoint="churn-api", variants=[variant("churn", version=pickled)])
    assert f"models:/churn/{pickled} cannot be loaded" in str(err.value)
    status = call("endpoint_status", name="churn-api")
    assert status.deployment.id == first.id
    assert [e.kind for e in call("list_deployment_events", endpoint="churn-api").events] == [
        "deploy"
    ]
    trusted = call(
        "deploy", endpoint="churn-api", variants=[variant("churn", version=pickled, trusted=True)]
    )
    assert trusted.variants[0].trusted is True


def test_delete_endpoint_keeps_the_trail(mode: str) -> None:
    call("create_endpoint", name="churn-api")
    deployed = call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    call("delete_endpoint", name="churn-api")
    with pytest.raises(NotFoundError, match="endpoint 'churn-api' does not exist"):
        call("endpoint_status", name="churn-api")
    kinds = [
        (e.kind, e.from_deployment)
        for e in call("list_deployment_events", endpoint="churn-api").events
    ]
    assert kinds == [("delete", deployed.id), ("deploy", None)]
