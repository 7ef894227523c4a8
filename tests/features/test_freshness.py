"""Feature freshness: the age of each view's newest materialized event, its TTL, and alert
rules (source ``features``) that fire when materialization stops."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert

import mloop
from mloop.core.errors import NotFoundError
from mloop.features import Entity, FeatureView, FileSource, apply
from mloop.features import tables as t
from mloop.features.freshness import FreshnessCheck
from mloop.store.context import Context
from mloop.store.runtime import Runtime

NOW = 1_780_000_000_000
HOUR_MS = 3_600_000

customer = Entity("customer")
orders = FileSource("orders", "orders.parquet", timestamp="ts")


def _view(name: str, ttl_hours: int) -> FeatureView:
    return FeatureView(
        name,
        entities=[customer],
        source=orders,
        features={"total": "float64"},
        ttl=dt.timedelta(hours=ttl_hours),
    )


def _materialized(runtime: Runtime, view: str, watermark: int) -> None:
    def write(ctx: Context) -> None:
        ctx.conn.execute(
            insert(t.feature_materializations).values(
                view=view, view_version=1, watermark=watermark, rows=10, materialized_at=NOW
            )
        )

    runtime.run(write, write=True)


def test_ages_ttls_and_alerts(runtime: Runtime) -> None:
    apply([_view("fresh", 2), _view("stale", 2), _view("never", 2)])
    _materialized(runtime, "fresh", NOW - HOUR_MS)
    _materialized(runtime, "stale", NOW - 3 * HOUR_MS)
    client = mloop.Client()
    client.call(
        "create_alert_rule",
        name="features-stale",
        source="features",
        metric="freshness.age_seconds",
        operator=">",
        threshold=2 * 3600,
    )
    raised = FreshnessCheck(runtime).run_once(now=NOW)
    assert raised == 1
    (alert,) = client.call("list_alerts").alerts
    assert alert.subject == {"feature_view": "stale"} and alert.value == pytest.approx(3 * 3600)
    views = {v.view: v for v in client.call("get_feature_freshness").views}
    assert views["never"].age_seconds is None and views["never"].rows == 0
    assert views["stale"].ttl_seconds == 7200
    assert client.call("get_feature_freshness", view="fresh").views[0].rows == 10
    with pytest.raises(NotFoundError):
        client.call("get_feature_freshness", view="nope")
