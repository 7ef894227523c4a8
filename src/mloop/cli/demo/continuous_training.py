"""Demo step: the drift alert retrains the loan model, and the new version reaches production
only through the gate and a canary, with nobody touching it.

The loan model gets a zero-touch deployment policy: its retraining pipeline
(:mod:`mloop.cli.demo._retraining`), an eval suite on a fixed test set, and a canary on the
``loan-approval`` endpoint; a trigger starts the policy when the hourly monitor raises a
drift or performance alert. Then the world moves again: in the seventh simulated hour
interest rates rise, debt ratios climb and debt weighs three times as much on repayment. The
monitor's window for that hour raises a new drift alert (the debt ratio), and from there a
worker does everything: the trigger fires, the pipeline trains on the freshest labelled
traffic and the reviewed cases, the candidate beats the champion on the suite, rolls out by
canary on live traffic and is promoted to champion. A second candidate, trained on the old
training data only, is stopped at the gate. The model's timeline shows the whole chain.
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

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from mloop.automation.worker import Worker
    from mloop.store.runtime import Runtime

POLICY = "loan-zero-touch"
TRIGGER = "loan-drift-retrains"
SUITE = "loan-holdout"
HOLDOUT = "loan-holdout"
RECENT = "loan-recent"
REVIEW_LABELS = "loan-review-labels"
PIPELINE = "mloop.cli.demo._retraining:retrain"
HOUR_INDEX = 6  # the monitor's seventh hour, left free by the monitoring step
REQUESTS = 600
CANARY_REQUESTS = 200
# Serving's ramp plan and health rules for the canary.
ROLLOUT = {
    "ramp": {"steps": [50, 100], "min_seconds": 0, "min_requests": 40},
    "rules": [{"kind": "error_rate", "threshold": 0.05, "min_samples": 40}],
}


@dataclass
class PolicyOutcome:
    run: int
    state: str
    candidate: int | None
    champion: int | None
    gate: str | None
    reason: str


@dataclass
class TrainingStory:
    """What the summary shows."""

    alerts: list[str] = field(default_factory=list)
    firing: str = ""
    outcomes: list[PolicyOutcome] = field(default_factory=list)
    accuracy: dict[int, float] = field(default_factory=dict)
    champion: int = 0
    timeline: int = 0


class _WorkerClock:
    """Real time plus the seconds the demo skipped, so a job that asked to come back after
    the policy's poll interval is due at once."""

    def __init__(self) -> None:
        self.skipped = 0

    def __call__(self) -> int:
        from mloop.core.timeutil import now_ms

        return now_ms() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += int(seconds * 1000)


def _prepare(rng: np.random.Generator) -> None:
    """The fixed test set and its suite, the champion alias, the policy and its trigger."""
    import mloop.automation as automation
    import mloop.evals as evals

    client = mloop.Client()
    holdout = applications(rng, 2000, shock=True, rates_up=True)
    holdout["repaid"] = repaid(rng, holdout, rates_up=True)
    data = mloop.register_dataset(
        HOLDOUT,
        holdout,
        description="The loan model's fixed test set: applications after the rate rise",
        source="mloop demo: simulated applications",
    )
    evals.register_suite(
        SUITE,
        dataset=data.ref,
        target="repaid",
        task="classification",
        primary="accuracy",
        features=FEATURES,
        metrics=["accuracy", "recall", "precision"],
        guards={"recall": 0.05},
        slices=[{"column": "region", "values": [r]} for r in ("north", "south", "east")],
        margin=0.01,
    )
    client.set_alias(MODEL, "champion", 1)
    client.call(
        "create_deployment_policy",
        name=POLICY,
        model=MODEL,
        pipeline=PIPELINE,
        params={"datasets": [RECENT, REVIEW_LABELS]},
        suite=SUITE,
        endpoint=ENDPOINT,
        rollout=ROLLOUT,
        poll_seconds=5,
    )
    automation.create_trigger(
        TRIGGER,
        "alert",
        {"monitor": MONITOR, "kinds": ["drift", "performance"]},
        {"policy": POLICY},
    )


async def _serve(runtime: Runtime, frame: Any, *, clock: Any = None) -> list[str]:
    """Send ``frame``'s applications to the endpoint, one request each; their request ids.
    With ``clock``, requests are stamped on it, a minute's worth apart."""
    from mloop.cli.demo._simulation import StampedLog
    from mloop.serving.formats import parse_request
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    log: Any = InferenceLog(runtime)
    if clock is not None:
        log = StampedLog(log, clock)
    service = ServingService(runtime, inference_log=log)
    ids = []
    try:
        for row in frame.to_dict(orient="records"):
            outcome = await service.invoke(ENDPOINT, parse_request(orjson.dumps({"inputs": [row]})))
            ids.append(outcome.request_id)
            if clock is not None:
                clock.advance(3600 / len(frame))
    finally:
        await service.aclose()
    return ids


def _rates_rise(ctx: DemoContext, runtime: Runtime, rng: np.random.Generator) -> list[str]:
    """The seventh hour's traffic after the rate rise, its outcomes, the fresh training data
    it makes, and the monitor's window for it; the alerts that window raised."""
    from mloop.cli.demo._simulation import SimulatedClock
    from mloop.core.timeutil import now_ms

    hours = ctx.kept(MonitorHours)
    first = hours.start if hours else now_ms() // HOUR_MS * HOUR_MS - (HOUR_INDEX + 1) * HOUR_MS
    start = first + HOUR_INDEX * HOUR_MS
    clock = SimulatedClock()
    clock.now = start
    frame = applications(rng, REQUESTS, shock=True, rates_up=True)
    truth = repaid(rng, frame, rates_up=True)
    ids = asyncio.run(_serve(runtime, frame, clock=clock))
    client = mloop.Client()
    labels = [{"request_id": r, "label": int(y)} for r, y in zip(ids, truth, strict=True)]
    client.call("attach_labels", endpoint=ENDPOINT, labels=labels, origin="demo")
    mloop.register_dataset(
        RECENT,
        frame.assign(repaid=truth),
        description="The latest hour of loan applications with their outcomes",
        source=f"mloop demo: endpoint {ENDPOINT}, inference log with outcomes",
    )
    before = {a.id for a in client.call("list_alerts").alerts}
    client.call("run_monitor", name=MONITOR, since=start, until=start + HOUR_MS)
    return [a.metric for a in client.call("list_alerts").alerts if a.id not in before]


def _outcome(runtime: Runtime, run_id: int) -> PolicyOutcome:
    from mloop.domains import find_operation

    op = find_operation("get_policy_run")
    run = runtime.run(lambda ctx: op.handler(ctx, op.request(id=run_id)), write=False).run
    return PolicyOutcome(
        run.id,
        run.state,
        run.candidate_version,
        run.champion_version,
        run.gate_outcome,
        run.reason,
    )


def _canary(runtime: Runtime, worker: Worker, clock: _WorkerClock, rng: Any) -> None:
    """Live traffic for the canary until the worker ends the rollout."""
    from mloop.serving.rollouts import get_rollout

    for _ in range(4):  # a two-step ramp needs two checks
        rollout = runtime.run(lambda ctx: get_rollout(ctx, ENDPOINT), write=False)
        if rollout is None or rollout.state != "running":
            return
        frame = applications(rng, CANARY_REQUESTS, shock=True, rates_up=True)
        asyncio.run(_serve(runtime, frame))
        clock.skip(5)
        worker.run_once()


def _accuracy(story: TrainingStory) -> None:
    """Each gated version's accuracy on the suite, from the stored gate decisions."""
    import mloop.evals as evals

    for decision in evals.list_gate_decisions(model=MODEL, suite=SUITE):
        primary = decision.primary
        if primary.candidate is not None:
            story.accuracy[decision.candidate.version] = primary.candidate
        if decision.champion is not None and primary.champion is not None:
            story.accuracy[decision.champion.version] = primary.champion


def run_continuous_training_step(ctx: DemoContext) -> None:
    """Set the policy up, let the world drift, and let the worker do the rest."""
    import numpy as np

    import mloop.automation as automation
    from mloop.automation.worker import Worker

    ctx.begin(5)
    rng = np.random.default_rng(ctx.config.seed + 17)
    story = TrainingStory()
    _prepare(rng)
    ctx.advance()
    runtime = ctx.open_store()
    clock = _WorkerClock()
    worker = Worker(runtime, worker_id="demo-worker", lease_s=600, clock=clock)
    try:
        story.alerts = _rates_rise(ctx, runtime, rng)
        ctx.advance()
        worker.run_once()  # the trigger sees the alert: the policy trains, gates, starts the canary
        firing = automation.trigger_history(TRIGGER)
        story.firing = ", ".join(e.outcome for e in firing) if firing else "not fired"
        runs = mloop.Client().call("list_policy_runs", policy=POLICY).runs
        first = runs[-1].id if runs else None
        ctx.advance()
        if first is not None:
            _canary(runtime, worker, clock, rng)
            story.outcomes.append(_outcome(runtime, first))
        ctx.advance()
        worse = mloop.Client().call(
            "run_deployment_policy",
            name=POLICY,
            trigger="api",
            payload={"params": {"datasets": [DATASET]}},
            reason="a candidate trained on the old applications only",
        )
        clock.skip(5)
        worker.run_once()
        story.outcomes.append(_outcome(runtime, worse.id))
    finally:
        runtime.close()
    _accuracy(story)
    story.champion = int(mloop.Client().get_model_version_by_alias(MODEL, "champion").version)
    story.timeline = len(mloop.Client().call("get_model_timeline", model=MODEL).entries)
    ctx.keep(story)
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    story = ctx.kept(TrainingStory)
    if story is None:
        return
    out.print(
        f"\nContinuous training: rates rose in hour {HOUR_INDEX}; monitor [bold]{MONITOR}"
        f"[/bold] raised {', '.join(story.alerts) or 'no alert'}; trigger [bold]{TRIGGER}"
        f"[/bold]: {story.firing}. Policy [bold]{POLICY}[/bold] ran with no one at the keys:"
    )

    def accuracy(version: int | None) -> str:
        value = story.accuracy.get(version) if version is not None else None
        return "-" if value is None else f"{value:.1%}"

    print_table(
        None,
        ["run", "candidate", "accuracy", "champion", "accuracy", "gate", "outcome"],
        [
            (
                str(o.run),
                f"v{o.candidate}" if o.candidate else "-",
                accuracy(o.candidate),
                f"v{o.champion}" if o.champion else "-",
                accuracy(o.champion),
                o.gate or "-",
                o.state,
            )
            for o in story.outcomes
        ],
    )
    out.print(
        f"{MODEL}@champion is version {story.champion}; its timeline "
        f"(/models/{MODEL}/timeline) has {story.timeline} entries."
    )


STEP = DemoStep(
    "continuous_training",
    "Retraining on drift, gated and rolled out by itself",
    run_continuous_training_step,
    summarise,
)
