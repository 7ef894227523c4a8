"""Registering feature definitions: plans, versions, pins, references checked, breaking
changes to a feature service a deployed model uses refused unless forced."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import mloop
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.features import Entity, FeatureService, FeatureView, FileSource
from mloop.store.runtime import Runtime

customer = Entity("customer", join_keys=["customer_id"])
orders = FileSource("orders", "orders.parquet", timestamp="event_ts")


def _spend(**features: str) -> FeatureView:
    return FeatureView(
        "spend",
        entities=[customer],
        source=orders,
        features=features or {"total": "float64", "count": "int64"},
        ttl=dt.timedelta(days=7),
    )


def apply(*definitions: Any, **options: Any) -> Any:
    body: dict[str, list[Any]] = {
        "entities": [],
        "sources": [],
        "feature_views": [],
        "on_demand": [],
        "feature_services": [],
    }
    kinds = {
        Entity: "entities",
        FileSource: "sources",
        FeatureView: "feature_views",
        FeatureService: "feature_services",
    }
    for d in definitions:
        body[kinds[type(d)]].append(d.to_spec())
    admin = options.get("remove") or options.get("force")
    operation = "apply_definitions_as_admin" if admin else "apply_definitions"
    return mloop.Client().call(operation, **body, **options)


def actions(result: Any) -> list[tuple[str, str, str, int | None]]:
    return [(e.kind, e.name, e.action, e.version) for e in result.plan]


def test_apply_versions_each_change_and_pins_services(runtime: Runtime) -> None:
    service = FeatureService("churn", features=[_spend()])
    first = apply(customer, orders, _spend(), service)
    assert first.applied and actions(first) == [
        ("entity", "customer", "add", 1),
        ("source", "orders", "add", 1),
        ("feature_view", "spend", "add", 1),
        ("feature_service", "churn", "add", 1),
    ]
    same = apply(customer, orders, _spend(), service)
    assert {e.action for e in same.plan} == {"unchanged"}
    wider = _spend(total="float64", count="int64", last="float64")
    changed = apply(customer, orders, wider, service, dry_run=True)
    assert not changed.applied
    assert [(e.name, e.version, e.changes) for e in changed.plan if e.action == "change"] == [
        ("spend", 2, ["feature last added"]),
        ("churn", 2, ["reads spend version 2"]),  # a service pins the views it reads
    ]
    apply(customer, orders, wider, FeatureService("churn", features=[wider]))
    client = mloop.Client()
    view = client.call("get_definition", kind="feature_view", name="spend")
    assert view.version == 2 and [f["name"] for f in view.spec["features"]] == [
        "total",
        "count",
        "last",
    ]
    churn = client.call("get_definition", kind="feature_service", name="churn")
    assert churn.version == 2 and churn.pinned == {"feature_view:spend": 2}
    first_churn = client.call("get_definition", kind="feature_service", name="churn", version=1)
    assert first_churn.pinned == {"feature_view:spend": 1}
    old = client.call("get_definition", kind="feature_view", name="spend", version=1)
    assert [f["name"] for f in old.spec["features"]] == ["total", "count"]
    versions = client.call("list_definition_versions", kind="feature_view", name="spend")
    assert [v.version for v in versions.versions] == [2, 1]


def test_remove_marks_removed_and_keeps_versions(runtime: Runtime) -> None:
    apply(customer, orders, _spend())
    result = apply(customer, orders, remove=True)
    assert ("feature_view", "spend", "remove", 1) in actions(result)
    client = mloop.Client()
    with pytest.raises(NotFoundError, match="was removed"):
        client.call("get_definition", kind="feature_view", name="spend")
    assert client.call("get_definition", kind="feature_view", name="spend", version=1)
    listed = client.call("list_definitions").definitions
    assert [(d.kind, d.name) for d in listed] == [("entity", "customer"), ("source", "orders")]
    again = apply(customer, orders, _spend())
    assert ("feature_view", "spend", "change", 2) in actions(again)


def test_references_are_checked_before_anything_is_written(runtime: Runtime) -> None:
    with pytest.raises(NotFoundError, match="entity 'customer', which is not defined"):
        apply(orders, _spend())
    with pytest.raises(NotFoundError, match="has no feature 'nope'"):
        apply(customer, orders, _spend(), FeatureService("s", features=["spend:nope"]))
    with pytest.raises(ValidationError, match="is not a feature reference"):
        apply(customer, orders, _spend(), FeatureService("s", features=["spend"]))
    with pytest.raises(ValidationError, match="join key and a feature"):
        apply(customer, orders, _spend(customer_id="int64"))
    with pytest.raises(ConflictError, match="defined twice"):
        apply(customer, customer)
    assert mloop.Client().call("list_definitions").definitions == []


def test_breaking_a_service_a_deployed_model_uses_needs_force(runtime: Runtime) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    apply(customer, orders, _spend(), FeatureService("churn", features=[_spend()]))
    x = pd.DataFrame({"total": np.arange(20.0), "count": np.arange(20) % 3})
    model = LogisticRegression().fit(x, np.arange(20) % 2)
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=x[:3])
    version = mloop.register_model(info.model_uri, "churn-model")
    client = mloop.Client()
    client.call(
        "set_model_version_tag",
        name="churn-model",
        version=version.version,
        key="mloop.feature_service",
        value="churn",
    )
    client.call("create_endpoint", name="churn-api")
    client.call("deploy", endpoint="churn-api", variants=[{"model": "churn-model", "version": 1}])
    narrower = _spend(total="float64")
    with pytest.raises(ConflictError) as raised:
        apply(customer, orders, narrower, FeatureService("churn", features=[narrower]))
    assert "churn-api" in raised.value.message and "force" in raised.value.message
    assert client.call("get_definition", kind="feature_view", name="spend").version == 1
    # Adding a feature breaks nothing; removing one with force is recorded.
    wider = _spend(total="float64", count="int64", extra="float64")
    apply(customer, orders, wider, FeatureService("churn", features=[_spend()]))
    forced = apply(
        customer, orders, narrower, FeatureService("churn", features=[narrower]), force=True
    )
    changed = [(e.name, e.breaking) for e in forced.plan if e.action == "change"]
    assert changed == [("spend", True), ("churn", False)]


def test_fields_the_schema_only_states_are_checked(runtime: Runtime) -> None:
    client = mloop.Client()
    view = _spend().to_spec().model_dump()
    cases = [
        ({**view, "name": "../escape"}, "feature_views.../escape.name"),
        ({**view, "tags": {"k" * 300: "v"}}, "feature_views.spend.tags"),
        (
            {**view, "features": [{"name": "a", "dtype": "int64"}] * 2},
            "feature_views.spend.features",
        ),
        ({**view, "transform": {"code": "x"}}, "feature_views.spend.transform"),
        (
            {**view, "features": [{"name": "a\x00", "dtype": "int64"}]},
            "feature_views.spend.features[0].name",
        ),
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as raised:
            client.call(
                "apply_definitions",
                entities=[customer.to_spec()],
                sources=[orders.to_spec()],
                feature_views=[bad],
            )
        assert raised.value.field == field, bad
    with pytest.raises(ValidationError) as raised:
        client.call("apply_definitions", sources=[{**orders.to_spec().model_dump(), "path": None}])
    assert raised.value.field == "sources.orders.path"
    assert client.call("list_definitions").definitions == []
