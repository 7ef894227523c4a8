"""Online features with the registry's definitions: over HTTP through the server's
operations (read, push, watermarks), re-read when definitions change, materialized in
full again when a view's version changes, and for an endpoint's requests through
``feature_lookup``. Runs on SQLite and on PostgreSQL metadata."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    FileSource,
    feature_lookup,
    on_demand_feature,
)
from mloop.features.schemas import FeatureType
from mloop.store.runtime import Runtime
from tests.conftest import ServerHandle

NOW = dt.datetime.now(dt.UTC)

customer = Entity("customer", join_keys=["customer_id"])
orders = FileSource("orders", "orders.parquet", timestamp="event_ts")


def spend_view(**extra: FeatureType) -> FeatureView:
    return FeatureView(
        "spend",
        entities=[customer],
        source=orders,
        features={"total": "float64", "count": "int64", **extra},
        ttl=dt.timedelta(days=7),
    )


@on_demand_feature(
    sources=["spend:total"], request={"amount": "float64"}, features={"share": "float64"}
)
def share(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"share": rows["amount"] / rows["total"]})


def definitions(view: FeatureView | None = None) -> list[Any]:
    view = view or spend_view()
    return [
        customer,
        orders,
        view,
        share,
        FeatureService("churn", features=["spend:total", "spend:count"]),
        FeatureService("scoring", features=["spend:total", share]),
    ]


def row(customer_id: int, when: dt.datetime, total: float, count: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "event_timestamp": when.isoformat(),
        "total": total,
        "count": count,
    }


def test_read_and_push_over_http(remote: ServerHandle) -> None:
    client = mloop.Client(remote.url)
    mloop.features.apply(definitions(), client=client)
    pushed = client.call(
        "push_features",
        view="spend",
        rows=[
            row(1, NOW - dt.timedelta(hours=1), 40.0, 4),
            row(2, NOW - dt.timedelta(days=9), 90.0, 9),
            row(1, NOW - dt.timedelta(hours=3), 10.0, 1),  # older than the first: not kept
        ],
    )
    assert (pushed.rows, pushed.written) == (3, 2)
    found = client.call(
        "get_online_features",
        features="churn",
        entity_rows=[{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 5}],
        include_freshness=True,
    )
    assert (found.service, found.service_version) == ("churn", 1)
    assert found.columns == ["total", "count"]
    assert found.rows == [
        {"customer_id": 1, "total": 40.0, "count": 4},
        {"customer_id": 2, "total": None, "count": None},
        {"customer_id": 5, "total": None, "count": None},
    ]
    assert [s["total"] for s in found.statuses] == ["present", "expired", "missing"]
    # Rows are stamped relative to NOW, taken when this module was imported: the age also
    # counts the time since then (minutes, on a busy machine running tests in parallel).
    since_import = (dt.datetime.now(dt.UTC) - NOW).total_seconds()
    assert 3600 - 1 <= found.freshness[0]["total"] <= 3600 + since_import + 1
    scored = client.call(
        "get_online_features",
        features="scoring",
        entity_rows=[{"customer_id": 1}],
        request_data=[{"amount": 10.0}],
    )
    assert scored.rows == [{"customer_id": 1, "total": 40.0, "share": 0.25}]

    # Errors come back as the same exceptions, naming the field.
    with pytest.raises(ValidationError) as raised:
        client.call("get_online_features", features=["spend:total"], entity_rows=[{"id": 1}])
    assert raised.value.field == "entity_rows[0].customer_id"
    with pytest.raises(ValidationError) as raised:
        client.call("push_features", view="spend", rows=[{"customer_id": 1, "total": 1.0}])
    assert raised.value.field == "rows[0].event_timestamp"
    with pytest.raises(NotFoundError):
        client.call("push_features", view="nope", rows=[row(1, NOW, 1.0, 1)])
    answer = httpx.post(
        f"{remote.url}/api/v1/features/online/get",
        json={"features": "churn", "entity_rows": [{"customer_id": 1}] * 10_001},
    )
    assert answer.status_code == 400
    assert "at most 10,000" in answer.json()["error"]["message"]

    # A view changed on the server is read with its new definition at once.
    mloop.features.apply(definitions(spend_view(last="string")), client=client)
    client.call(
        "push_features",
        view="spend",
        rows=[{**row(3, NOW, 5.0, 1), "last": "books"}],
    )
    found = client.call(
        "get_online_features", features=["spend:last"], entity_rows=[{"customer_id": 3}]
    )
    assert found.rows == [{"customer_id": 3, "last": "books"}]


class Rows:
    """A stand-in for the offline store's read_view_rows."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.since: list[dt.datetime | None] = []

    def __call__(self, view: Any, *, since: Any = None, until: Any = None) -> Any:
        self.since.append(since)
        schema = pa.schema(
            [("customer_id", pa.int64()), ("event_timestamp", pa.timestamp("us", tz="UTC"))]
            + [
                (n, pa.float64() if t == "float64" else pa.int64() if t == "int64" else pa.string())
                for n, t in view.feature_types.items()
            ]
        )
        keep = [r for r in self.rows if since is None or r["event_timestamp"] >= since]
        table = pa.Table.from_pylist(
            [{n: r.get(n) for n in schema.names} for r in keep], schema=schema
        )
        return pa.RecordBatchReader.from_batches(schema, table.to_batches())


def test_a_new_view_version_is_materialized_in_full(runtime: Runtime) -> None:
    mloop.features.apply(definitions())
    source = Rows(
        [
            {
                "customer_id": 1,
                "event_timestamp": NOW - dt.timedelta(hours=2),
                "total": 1.0,
                "count": 1,
                "last": "a",
            },
            {
                "customer_id": 2,
                "event_timestamp": NOW - dt.timedelta(hours=1),
                "total": 2.0,
                "count": 2,
                "last": "b",
            },
        ]
    )
    with FeatureStore() as store:
        first = store.materialize(["spend"], reader=source)
        assert first[0].full and first[0].version == 1
        again = store.materialize(["spend"], reader=source)
        assert not again[0].full and source.since[-1] == first[0].watermark
        mloop.features.apply(definitions(spend_view(last="string")))
        changed = store.materialize(["spend"], reader=source)  # re-reads the registry
        assert changed[0].full and changed[0].version == 2 and source.since[-1] is None
        found = store.get_online_features(["spend:last"], [{"customer_id": 1}])
        assert found.rows[0]["last"] == "a"
    freshness = mloop.Client().call("get_feature_freshness", view="spend").views[0]
    assert freshness.watermark == int(changed[0].watermark.timestamp() * 1000)  # type: ignore[union-attr]


def _register_model(tag: str | None) -> int:
    """A version of churn-model (inputs total and count) naming feature service ``tag``."""
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"total": np.arange(20.0), "count": np.arange(20) % 5})
    model = LogisticRegression().fit(x, (x["total"] > 9).astype(int))
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=x[:3])
    version = int(mloop.register_model(info.model_uri, "churn-model").version)
    if tag is not None:
        mloop.Client().call(
            "set_model_version_tag",
            name="churn-model",
            version=version,
            key="mloop.feature_service",
            value=tag,
        )
    return version


def _deploy_with_service(tag: str | None) -> None:
    version = _register_model(tag)
    client = mloop.Client()
    client.call("create_endpoint", name="churn-api")
    client.call(
        "deploy", endpoint="churn-api", variants=[{"model": "churn-model", "version": version}]
    )


def test_feature_lookup_serves_an_endpoints_feature_service(runtime: Runtime) -> None:
    mloop.features.apply(definitions())
    _deploy_with_service("churn:1")
    FeatureStore().push(
        "spend",
        [
            row(7, NOW - dt.timedelta(minutes=5), 15.0, 3),
            row(9, NOW - dt.timedelta(minutes=5), 2.0, 1),
        ],
    )
    lookup = feature_lookup(runtime)
    assert lookup("churn-api", [{"customer_id": 9}, {"customer_id": 7}, {"customer_id": 4}]) == [
        {"total": 2.0, "count": 1},
        {"total": 15.0, "count": 3},
        {"total": None, "count": None},
    ]
    with pytest.raises(ValidationError) as raised:
        lookup("churn-api", [{"customer": 7}])
    assert raised.value.field == "entity_rows[0].customer_id"

    # Wired into an endpoint, entity keys become the model's input.
    from mloop.serving.http import standalone_app

    class Log:
        records: list[Any] = []

        def record(self, record: Any) -> None:
            self.records.append(record)

        def close(self) -> None:
            pass

    app = standalone_app(
        runtime, "churn-api", auth_enabled=False, feature_lookup=lookup, inference_log=Log()
    )

    async def post(body: Mapping[str, Any]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as http:
            answer = await http.post("/invocations", json=body)
            await app.state.serving.aclose()
        return answer

    resolved = asyncio.run(post({"entities": [{"customer_id": 7}, {"customer_id": 9}]}))
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["predictions"] == [1, 0]
    assert Log.records[0].inputs == [
        {"customer_id": 7, "total": 15.0, "count": 3},
        {"customer_id": 9, "total": 2.0, "count": 1},
    ]


def test_feature_lookup_needs_a_model_that_names_its_service(runtime: Runtime) -> None:
    mloop.features.apply(definitions())
    _deploy_with_service(None)
    with pytest.raises(ValidationError, match="names no feature service"):
        feature_lookup(runtime)("churn-api", [{"customer_id": 7}])


def test_feature_lookup_follows_the_live_deployment(runtime: Runtime) -> None:
    mloop.features.apply(definitions())
    _deploy_with_service("churn")
    FeatureStore().push("spend", [row(7, NOW - dt.timedelta(minutes=5), 15.0, 3)])
    lookup = feature_lookup(runtime, refresh_seconds=0)
    assert lookup("churn-api", [{"customer_id": 7}]) == [{"total": 15.0, "count": 3}]
    # A new deployment whose model reads another service: its features from then on, the
    # on-demand one computed with the request column the entity's mapping carries.
    version = _register_model("scoring")
    mloop.Client().call(
        "deploy", endpoint="churn-api", variants=[{"model": "churn-model", "version": version}]
    )
    assert lookup("churn-api", [{"customer_id": 7, "amount": 3.0}]) == [
        {"total": 15.0, "share": 0.2}
    ]
    with pytest.raises(ValidationError) as raised:
        lookup("churn-api", [{"customer_id": 7}])
    assert raised.value.field == "entity_rows[0].amount"
