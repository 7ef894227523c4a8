"""Demo step: a loan-approval endpoint whose traffic drifts part-way through; a monitor
finds the drift in the right hour, its bias audit flags the region whose approval rate
falls, and alert rules raise alerts.

A logistic regression approves loans from income, debt ratio and age; it is trained on a
registered dataset of applications (with the applicant's region, which the model does not
use but the audit does), which is also the monitor's reference. Six simulated hours of
requests go through the serving runtime and into the inference log, stamped on a clock
that starts seven hours ago on the hour (the seventh hour is the continuous-training
step's). From hour 3, incomes in the south fall (a local
shock the model never saw): the income distribution drifts and the south is approved far
less often. The training data's registration policy (a data contract: incomes of at least
20,000, debt ratios between 0 and 1) is checked on every hour of traffic too, and the share
of applications under the minimum income rises with the shock. The monitor computes the
six hourly windows (a backfill) and hands each to the alert rules.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._loans import (
    DATASET,
    ENDPOINT,
    FEATURES,
    HOUR_MS,
    MODEL,
    MONITOR,
    MonitorHours,
    applications,
    repaid,
)
from mloop.cli.demo._simulation import SimulatedClock, StampedLog

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from mloop.store.runtime import Runtime

HOURS = 6
DRIFT_FROM_HOUR = 3
REQUESTS_PER_HOUR = 600
# The training data's contract, set as its registration policy and checked on traffic.
CONTRACT = """\
contract: loan-applications
version: 1
columns:
  income: {min: 20000, nullable: false}
  debt_ratio: {min: 0, max: 1}
  age: {min: 18}
  region: {allowed: [north, south, east]}
"""
RULES = (
    {
        "name": "loan-input-drift",
        "source": "monitor",
        "metric": "drift.column.*.drifted",
        "operator": ">=",
        "threshold": 1,
        "severity": "critical",
        "description": "An input of the loan-approval model drifted from its training data",
    },
    {
        "name": "loan-four-fifths",
        "source": "monitor",
        "metric": "fairness.region.demographic_parity_ratio",
        "operator": "<",
        "threshold": 0.8,
        "severity": "warning",
        "description": "A region is approved at under four fifths of the best region's rate",
    },
    {
        "name": "loan-contract",
        "source": "monitor",
        "metric": "quality.contract.max_share",
        "operator": ">",
        "threshold": 0.02,
        "severity": "warning",
        "description": "Over 2% of an hour's applications break the training data's contract",
    },
)


@dataclass
class MonitoringStory:
    """What the summary shows: each hour's verdicts, and the alerts raised."""

    hours: list[tuple[str, ...]] = field(default_factory=list)
    alerts: list[tuple[str, str, str, str]] = field(default_factory=list)
    drifted_hours: list[int] = field(default_factory=list)


def _train(ctx: DemoContext, rng: np.random.Generator) -> None:
    from sklearn.linear_model import LogisticRegression

    train = applications(rng, 3000)
    truth = repaid(rng, train)
    version = mloop.register_dataset(
        DATASET,
        train.assign(repaid=truth),
        description="Loan applications the approval model was trained on",
        source="mloop demo: simulated applications",
    )
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], truth)
    experiment = mloop.Client().create_experiment("demo-loans")
    with mloop.start_run(experiment_id=str(experiment), run_name="loan-approval"):
        mloop.get_dataset(f"{DATASET}/{version.version}")  # the run's input: its lineage
        info = mloop.sklearn.log_model(model, "model", input_example=train[FEATURES].iloc[:3])
    mloop.register_model(info.model_uri, MODEL)
    ctx.advance()


async def _traffic(runtime: Runtime, rng: np.random.Generator, clock: SimulatedClock) -> None:
    from mloop.serving.formats import parse_request
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    log = StampedLog(InferenceLog(runtime), clock)
    service = ServingService(runtime, inference_log=log)
    labels: list[dict[str, Any]] = []
    try:
        for hour in range(HOURS):
            frame = applications(rng, REQUESTS_PER_HOUR, shock=hour >= DRIFT_FROM_HOUR)
            truth = repaid(rng, frame)
            for i, row in enumerate(frame.to_dict(orient="records")):
                body = orjson.dumps({"inputs": [row]})
                outcome = await service.invoke(ENDPOINT, parse_request(body))
                if hour < 2:  # repayments are known for the oldest loans only
                    labels.append({"request_id": outcome.request_id, "label": int(truth[i])})
                clock.advance(3600 / REQUESTS_PER_HOUR)
    finally:
        await service.aclose()
    mloop.Client().call("attach_labels", endpoint=ENDPOINT, labels=labels, origin="demo")


def _story(start: int, windows: list[Any]) -> MonitoringStory:
    story = MonitoringStory()
    for w in windows:
        hour = (w.start - start) // HOUR_MS
        m = w.metrics
        drifted = sorted(
            name.split(".")[2]
            for name, value in m.items()
            if name.startswith("drift.column.") and name.endswith(".drifted") and value
        )
        if m.get("drift.dataset"):
            story.drifted_hours.append(hour)
        story.hours.append(
            (
                f"{hour}",
                f"{w.rows}",
                f"{m.get('drift.share', 0):.0%}",
                ", ".join(drifted) or "-",
                _rate(m.get("fairness.region.north.selection_rate")),
                _rate(m.get("fairness.region.south.selection_rate")),
                _rate(m.get("quality.contract.check.income.min.share"), 1),
                _rate(m.get("performance.accuracy")),
                str(w.alerts),
            )
        )
    for alert in reversed(mloop.Client().call("list_alerts").alerts):
        story.alerts.append(
            (
                alert.severity,
                alert.rule,
                alert.metric,
                f"{alert.value:.2f} ({alert.count} windows)" if alert.value is not None else "-",
            )
        )
    return story


def _rate(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def run_monitoring_step(ctx: DemoContext) -> None:
    """Train, deploy, send six hours of drifting traffic, monitor it and raise alerts."""
    import numpy as np

    from mloop.core.timeutil import now_ms

    ctx.begin(4)
    rng = np.random.default_rng(ctx.config.seed)
    client = mloop.Client()
    _train(ctx, rng)
    client.call("set_dataset_policy", name=DATASET, contract_yaml=CONTRACT, required=False)
    client.call("create_endpoint", name=ENDPOINT, description="approves loan applications")
    client.call("deploy", endpoint=ENDPOINT, variants=[{"model": MODEL, "version": 1}])
    for rule in RULES:
        client.call("create_alert_rule", **rule)
    clock = SimulatedClock()
    # Six hours from seven hours ago: the last full hour is the continuous-training step's.
    start = now_ms() // HOUR_MS * HOUR_MS - (HOURS + 1) * HOUR_MS
    clock.now = start
    ctx.keep(MonitorHours(start))
    runtime = ctx.open_store()
    try:
        asyncio.run(_traffic(runtime, rng, clock))
    finally:
        runtime.close()
    ctx.advance()
    client.call(
        "create_monitor",
        name=MONITOR,
        endpoint=ENDPOINT,
        reference={"kind": "dataset", "dataset": DATASET},
        window_seconds=3600,
        columns={"income": "number", "debt_ratio": "number", "age": "number"},
        fairness={"sensitive": ["region"], "min_group_size": 20},
        contract={"dataset": DATASET},
        review_threshold=0.6,
        schedule=False,
        description="Hourly drift, outputs, a bias audit by region and the data contract",
    )
    ctx.advance()
    run = client.call("run_monitor", name=MONITOR, since=start, until=start + HOURS * HOUR_MS)
    ctx.keep(_story(start, run.windows))
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    story = ctx.kept(MonitoringStory)
    if story is None:
        return
    out.print(
        f"\nMonitor [bold]{MONITOR}[/bold] compared each hour of [bold]{ENDPOINT}[/bold]'s "
        f"traffic with the training data; incomes in the south fell from hour {DRIFT_FROM_HOUR}:"
    )
    print_table(
        None,
        [
            "hour",
            "rows",
            "drifted",
            "drifted columns",
            "north approved",
            "south approved",
            "income < 20k",
            "accuracy",
            "alerts",
        ],
        story.hours,
    )
    if story.alerts:
        print_table("Alerts raised", ["severity", "rule", "metric", "value"], story.alerts)


STEP = DemoStep(
    "monitoring", "Monitoring drift and bias on simulated traffic", run_monitoring_step, summarise
)
