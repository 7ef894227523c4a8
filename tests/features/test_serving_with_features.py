"""One definition from training to serving: a model trained on get_historical_features is
served with online features by entity keys; the inference log keeps the feature vectors,
and the skew check recomputes them offline and finds the values that differ."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mloop
from mloop.core.timeutil import now_ms
from mloop.features import Entity, FeatureService, FeatureView, FileSource, apply
from mloop.features.skew import check_skew
from mloop.store.runtime import Runtime
from tests.cli.cli_helpers import Cli

DAY_MS = 86_400_000


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path) -> dict[str, Any]:
    today = now_ms() // DAY_MS * DAY_MS
    rng = np.random.default_rng(1)
    days = [pd.Timestamp(today - d * DAY_MS, unit="ms", tz="UTC") for d in (3, 2, 1)]
    stats = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(20), 3),
            "event_timestamp": np.repeat(days, 20),
            "spend": rng.normal(100, 20, 60).round(2),
            "orders": rng.integers(0, 10, 60),
        }
    )
    path = tmp_path / "stats.parquet"
    stats.to_parquet(path)
    view = FeatureView(
        "customer_stats",
        entities=[Entity("customer", ["customer_id"])],
        source=FileSource("stats", str(path), timestamp="event_timestamp"),
        features={"spend": "float64", "orders": "int64"},
        ttl=dt.timedelta(days=5),
    )
    apply([view, FeatureService("churn", features=[view])])
    labelled = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 20, 200),
            "event_timestamp": pd.Timestamp(today - DAY_MS // 2, unit="ms", tz="UTC"),
            "churned": rng.integers(0, 2, 200),
        }
    )
    training = mloop.features.get_historical_features(labelled, "churn")
    x = training[["spend", "orders"]].astype(float)
    model = LogisticRegression().fit(x, training["churned"])
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=x.iloc[:3])
    mloop.register_model(info.model_uri, "churn", tags={"mloop.feature_service": "churn"})
    mloop.features.materialize()
    client = mloop.Client()
    client.call("create_endpoint", name="churn-api")
    client.call("deploy", endpoint="churn-api", variants=[{"model": "churn", "version": 1}])
    return {"stats": stats, "today": today}


def _serve(runtime: Runtime, customers: list[int]) -> list[Any]:
    from mloop.features.online.lookup import feature_lookup
    from mloop.serving.formats import parse_request
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    async def run() -> list[Any]:
        log = InferenceLog(runtime)
        service = ServingService(runtime, inference_log=log, feature_lookup=feature_lookup(runtime))
        try:
            body = orjson.dumps({"entities": [{"customer_id": c} for c in customers]})
            return [await service.invoke("churn-api", parse_request(body))]
        finally:
            await service.aclose()
            log.close()

    return asyncio.run(run())


def test_served_features_match_offline_until_the_online_store_drifts(
    runtime: Runtime, served: dict[str, Any]
) -> None:
    cli = Cli()
    began = now_ms()
    (outcome,) = _serve(runtime, [1, 2, 3])
    assert len(outcome.result.predictions) == 3
    report = check_skew("churn-api", since=began, until=now_ms() + 1, runtime=runtime)
    assert (report.service, report.rows, report.rows_with_mismatch) == ("churn", 3, 0)
    # A value pushed to the online store that the offline source never had is skew.
    mloop.features.push(
        "customer_stats",
        [{"customer_id": 2, "event_timestamp": dt.datetime.now(dt.UTC), "spend": 1e6, "orders": 1}],
    )
    later = now_ms()
    _serve(runtime, [1, 2, 3])
    report = check_skew("churn-api", since=later, until=now_ms() + 1, runtime=runtime)
    assert report.rows == 3 and report.rows_with_mismatch == 1
    spend = next(f for f in report.features if f.feature == "spend")
    assert spend.mismatches == 1 and spend.examples[0]["served"] == 1e6
    assert spend.examples[0]["keys"] == {"customer_id": 2}
    assert next(f for f in report.features if f.feature == "orders").mismatches == 1
    result = cli(
        "features", "skew-check", "churn-api", "--since", str(later), "--fail-above", "0.1"
    )
    assert result.exit_code == 3, result.output
    assert "1 (33.33%) differ from offline retrieval" in result.output


def test_cli_materialize_and_profile(runtime: Runtime, served: dict[str, Any]) -> None:
    cli = Cli()
    again = cli.ok("features", "materialize", "--json")
    (only,) = orjson.loads(again.output)
    assert only["view"] == "customer_stats" and not only["full"]  # from the watermark
    full = cli.ok("features", "materialize", "customer_stats", "--full")
    assert "customer_stats" in full.output and "full" in full.output
    profiled = cli.ok("features", "profile", "customer_stats")
    assert "Profiled 60 rows of feature view customer_stats" in profiled.output
    bad = cli("features", "materialize", "nope")
    assert bad.exit_code == 1 and "nope" in bad.output
