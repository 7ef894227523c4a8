"""Demo step: a fraud model trained from the feature store and served with its online
features, from one definition.

A feature repository (written into the demo's home) defines a ``customer`` entity, a view
of daily customer statistics read from a Parquet file, an on-demand feature comparing a
payment's amount with the customer's average, and the ``fraud`` feature service. The
labelled payments get their features point in time (``get_historical_features``: each
payment sees the statistics known on its day, never later ones) and the training set is
saved as a dataset version with its lineage; the model trained on it names the service in
its tag ``mloop.feature_service``. The statistics are materialized into the online store,
the model is deployed, and payments are sent with only a customer id and an amount: the
endpoint looks the customer's features up and computes the on-demand one, exactly as
training did. A skew check then recomputes the served features offline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._simulation import SimulatedClock, StampedLog

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from rich.console import Console

    from mloop.store.runtime import Runtime

ENDPOINT = "fraud-check"
MODEL = "demo-fraud"
SERVICE = "fraud"
TRAINING_SET = "fraud-training"
CUSTOMERS = 300
DAYS = 30
PAYMENTS = 3000
SERVED = 200
DAY_MS = 86_400_000

_REPO = '''\
"""The demo's feature repository: registered with mloop features apply."""

import datetime as dt

import pandas as pd

from mloop.features import Entity, FeatureService, FeatureView, FileSource, on_demand_feature

customer = Entity("customer", join_keys=["customer_id"])
daily_stats = FileSource(
    "customer_daily_stats", {path!r}, timestamp="event_timestamp", created="created"
)
customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    source=daily_stats,
    features={{"avg_amount_30d": "float64", "payments_30d": "int64", "chargebacks_90d": "int64"}},
    ttl=dt.timedelta(days=3),
    description="A customer's payments over the last 30 days, computed nightly",
)


@on_demand_feature(
    sources=["customer_stats:avg_amount_30d"],
    request={{"amount": "float64"}},
    features={{"amount_vs_avg": "float64"}},
)
def amount_vs_avg(rows: pd.DataFrame) -> pd.DataFrame:
    """How many times the customer's average this payment is."""
    average = rows["avg_amount_30d"].clip(lower=1.0)
    return pd.DataFrame({{"amount_vs_avg": rows["amount"] / average}})


fraud = FeatureService("{service}", features=[customer_stats, amount_vs_avg])
'''


@dataclass
class FeatureStory:
    """What the summary shows."""

    plan: list[tuple[str, str, str]] = field(default_factory=list)
    training_rows: int = 0
    training_set: str = ""
    features: list[str] = field(default_factory=list)
    auc: float = 0.0
    materialized: list[tuple[str, int, str]] = field(default_factory=list)
    served: int = 0
    flagged: int = 0
    lookup_ms: tuple[float, float] = (0.0, 0.0)
    skew_rate: float = 0.0
    skew_rows: int = 0


def _daily_stats(rng: np.random.Generator, start_ms: int) -> pd.DataFrame:
    """One row per customer and day: written an hour after the day it describes."""
    import numpy as np
    import pandas as pd

    base = rng.lognormal(np.log(60), 0.5, CUSTOMERS)
    risky = rng.random(CUSTOMERS) < 0.1
    rows = []
    for day in range(DAYS):
        at = pd.Timestamp(start_ms + day * DAY_MS, unit="ms", tz="UTC")
        drift = rng.normal(1.0, 0.05, CUSTOMERS)
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": np.arange(CUSTOMERS),
                    "event_timestamp": at,
                    "created": at + pd.Timedelta(hours=1),
                    "avg_amount_30d": (base * drift).round(2),
                    "payments_30d": rng.poisson(12, CUSTOMERS),
                    "chargebacks_90d": rng.poisson(np.where(risky, 1.5, 0.1)),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _payments(
    rng: np.random.Generator, stats: pd.DataFrame, n: int, since: int, until: int
) -> pd.DataFrame:
    """Payments at random times, fraud more likely when the amount is far above the
    customer's average and the customer had chargebacks."""
    import numpy as np
    import pandas as pd

    customers = rng.integers(0, CUSTOMERS, n)
    times = rng.integers(since, until, n)
    latest = stats.groupby("customer_id").last()
    avg = latest.loc[customers, "avg_amount_30d"].to_numpy()
    chargebacks = latest.loc[customers, "chargebacks_90d"].to_numpy()
    big = rng.random(n) < 0.15
    amount = np.where(big, avg * rng.uniform(3, 8, n), avg * rng.uniform(0.2, 1.6, n)).round(2)
    score = 1.2 * np.log(amount / avg) + 0.8 * chargebacks - 2.5 + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "customer_id": customers,
            "event_timestamp": pd.to_datetime(times, unit="ms", utc=True),
            "amount": amount,
            "is_fraud": (score > 0).astype(int),
        }
    )


def run_features_step(ctx: DemoContext) -> None:
    """Define, register, train from, materialize and serve features."""
    import numpy as np

    from mloop.core.timeutil import now_ms

    ctx.begin(6)
    story = FeatureStory()
    rng = np.random.default_rng(ctx.config.seed + 15)
    today = now_ms() // DAY_MS * DAY_MS
    # Statistics up to yesterday, each written an hour after its day: all known by now.
    start = today - DAYS * DAY_MS
    data = ctx.home / "feature-data"
    data.mkdir(exist_ok=True)
    stats = _daily_stats(rng, start)
    stats_path = data / "customer_daily_stats.parquet"
    stats.to_parquet(stats_path)
    repo = ctx.home / "feature_repo"
    repo.mkdir(exist_ok=True)
    (repo / "demo_fraud_features.py").write_text(
        _REPO.format(path=str(stats_path), service=SERVICE), encoding="utf-8"
    )
    result = mloop.features.apply(repo)
    story.plan = [(e.kind, e.name, f"v{e.version}") for e in result.plan]
    ctx.advance()

    payments = _payments(rng, stats, PAYMENTS, start + DAY_MS, today)
    training = mloop.features.get_historical_features(
        payments, SERVICE, as_known_then=True, save_as=TRAINING_SET
    )
    story.training_rows = len(training)
    story.training_set = TRAINING_SET
    ctx.advance()

    story.features, story.auc = _train(training)
    ctx.advance()

    runs = mloop.features.materialize()
    story.materialized = [
        (m.view, m.rows_written, "full" if m.full else "incremental") for m in runs
    ]
    from mloop.features.profiles import profile_view

    profile_view("customer_stats")  # the statistics the view's page draws
    ctx.advance()

    client = mloop.Client()
    client.call("create_endpoint", name=ENDPOINT, description="scores payments for fraud")
    client.call("deploy", endpoint=ENDPOINT, variants=[{"model": MODEL, "version": 1}])
    served = _payments(rng, stats, SERVED, today - DAY_MS, today)
    runtime = ctx.open_store()
    clock = SimulatedClock()
    began = clock.now = now_ms()
    try:
        story.served, story.flagged, story.lookup_ms = asyncio.run(_serve(runtime, clock, served))
    finally:
        runtime.close()
    ctx.advance()

    from mloop.features.skew import check_skew

    runtime = ctx.open_store()
    try:
        report = check_skew(ENDPOINT, since=began, until=clock.now + 1, runtime=runtime)
    finally:
        runtime.close()
    story.skew_rate, story.skew_rows = report.rate, report.rows
    ctx.keep(story)
    ctx.advance()


def _train(training: pd.DataFrame) -> tuple[list[str], float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    features = ["avg_amount_30d", "payments_30d", "chargebacks_90d", "amount_vs_avg"]
    frame = training.dropna(subset=features)
    x = frame[features].astype(float)
    y = frame["is_fraud"].to_numpy()
    cut = int(len(frame) * 0.8)
    model = LogisticRegression(max_iter=1000).fit(x[:cut], y[:cut])
    auc = float(roc_auc_score(y[cut:], model.predict_proba(x[cut:])[:, 1]))
    experiment = mloop.Client().create_experiment("demo-fraud")
    with mloop.start_run(experiment_id=str(experiment), run_name="fraud-from-features"):
        mloop.get_dataset(f"{TRAINING_SET}")  # the run's input: the saved training set
        mloop.log_metric("val_auc", auc)
        info = mloop.sklearn.log_model(model, "model", input_example=x.iloc[:3])
    mloop.register_model(info.model_uri, MODEL, tags={"mloop.feature_service": SERVICE})
    return features, auc


async def _serve(
    runtime: Runtime, clock: SimulatedClock, payments: pd.DataFrame
) -> tuple[int, int, tuple[float, float]]:
    """Send each payment as its customer id and amount only."""
    import numpy as np

    from mloop.features.online.lookup import feature_lookup
    from mloop.serving.formats import parse_request
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    log = StampedLog(InferenceLog(runtime), clock)
    lookup = feature_lookup(runtime)
    timings: list[float] = []

    def timed(endpoint: str, entities: Any) -> Any:
        began = time.perf_counter()
        found = lookup(endpoint, entities)
        timings.append((time.perf_counter() - began) * 1000)
        return found

    service = ServingService(runtime, inference_log=log, feature_lookup=timed)
    flagged = 0
    try:
        for row in payments.to_dict(orient="records"):
            # The entity's keys, with the request data on-demand features need (as in
            # get_online_features' entity rows); no model input is sent.
            entity = {"customer_id": int(row["customer_id"]), "amount": float(row["amount"])}
            body = orjson.dumps({"entities": [entity]})
            outcome = await service.invoke(ENDPOINT, parse_request(body))
            flagged += int(outcome.result.predictions[0] == 1)
            clock.advance(0.01)
    finally:
        await service.aclose()
    p50, p99 = np.percentile(timings, [50, 99]) if timings else (0.0, 0.0)
    return len(payments), flagged, (float(p50), float(p99))


def summarise(ctx: DemoContext, out: Console) -> None:
    story = ctx.kept(FeatureStory)
    if story is None:
        return
    out.print(
        f"\n[bold]Feature store[/bold]: feature service [bold]{SERVICE}[/bold] registered from "
        f"a folder of Python; {story.training_rows} labelled payments got their features "
        f"point in time (saved as dataset {story.training_set}); the model trained on them "
        f"scored AUC {story.auc:.3f} on held-out payments."
    )
    print_table(
        "Materialized into the online store",
        ["feature view", "rows written", "how"],
        story.materialized,
    )
    out.print(
        f"Endpoint [bold]{ENDPOINT}[/bold] served {story.served} payments sent with only a "
        f"customer id and an amount ({story.flagged} flagged): online lookup p50 "
        f"{story.lookup_ms[0]:.2f} ms, p99 {story.lookup_ms[1]:.2f} ms. Skew check: "
        f"{story.skew_rate:.1%} of {story.skew_rows} served feature vectors differ from "
        "offline retrieval."
    )


STEP = DemoStep(
    "features", "Training from and serving with the feature store", run_features_step, summarise
)
