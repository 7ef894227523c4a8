"""Statistics of a feature view's rows: profiled where the sources are, stored, read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.features import Entity, FeatureView, FileSource, apply
from mloop.features.profiles import profile_view
from mloop.store.runtime import Runtime


def test_a_views_rows_are_profiled_and_stored(runtime: Runtime, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "orders.parquet"
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, 50, 500),
            "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(500), "h"),
            "total": rng.normal(100, 10, 500),
            "channel": rng.choice(["web", "store"], 500),
        }
    ).to_parquet(path)
    view = FeatureView(
        "spend",
        entities=[Entity("customer")],
        source=FileSource("orders", str(path), timestamp="ts"),
        features={"total": "float64", "channel": "string"},
        ttl=dt.timedelta(days=7),
    )
    apply([view])
    client = mloop.Client()
    with pytest.raises(NotFoundError, match="no statistics yet"):
        client.call("get_feature_profile", view="spend")
    found = profile_view("spend")
    assert found.version == 1 and found.rows == 500
    columns = {c["name"]: c for c in found.profile["columns"]}
    assert set(columns) == {"total", "channel"}
    assert columns["total"]["mean"] == pytest.approx(100, abs=2)
    with pytest.raises(ValidationError, match="dataset profile"):
        client.call("store_feature_profile", view="spend", version=1, rows=1, profile={"x": 1})
    with pytest.raises(NotFoundError):
        client.call("store_feature_profile", view="spend", version=9, rows=1, profile=found.profile)
