"""Demo step: serve the champion, roll out the challenger by a canary that advances by
itself, then roll out a broken candidate that mloop rolls back by itself.

Traffic is simulated in this process through the serving runtime (the same code that answers
``/invocations``), recorded in the inference log and labelled with the validation set's
truth. The rollouts' minimum step time is a minute on a simulated clock: each request moves
the clock on, the records carry its time and the checks read it, so the demo waits for
nothing. The timeline is the endpoint's deployment history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

import mloop
from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._simulation import SimulatedClock, StampedLog

if TYPE_CHECKING:
    from rich.console import Console

    from mloop.store.runtime import Runtime

ENDPOINT = "tumour-check"
BROKEN_MODEL = "demo-classifier-broken"
_TRUSTED = ["sklearn.tree._tree.Tree"]  # the demo's own tree models (see verify)
_STEP_SECONDS = 60
_REQUESTS_PER_STEP = 120
_RULES = [
    {"kind": "error_rate", "threshold": 0.05, "min_samples": 10},
    {"kind": "latency", "threshold": 250, "quantile": 0.99, "min_samples": 10},
    {"kind": "accuracy", "threshold": 0.8, "min_samples": 10},
]


@dataclass
class Timeline:
    """What the summary shows: the endpoint's history and the canary's comparison."""

    events: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    comparison: list[tuple[str, str, str, str]] = field(default_factory=list)


def _register_broken(ctx: DemoContext) -> int:
    """A 'new model' that always answers the same class: what a bad release looks like."""
    from sklearn.dummy import DummyClassifier

    data = ctx.dataset()
    model = DummyClassifier(strategy="constant", constant=0).fit(data.X_train, data.y_train)
    # Its own experiment: the training experiment holds the models the demo compared.
    experiment = mloop.Client().create_experiment("demo-serving")
    with mloop.start_run(experiment_id=str(experiment), run_name="broken-candidate"):
        info = mloop.sklearn.log_model(model, "model", input_example=data.X_train.iloc[:3])
    return int(mloop.register_model(info.model_uri, BROKEN_MODEL).version)


async def _traffic(
    ctx: DemoContext, service: Any, clock: SimulatedClock, first: int, count: int
) -> list[dict[str, Any]]:
    """``count`` single-row requests from simulated users, a step's time apart in all;
    the ground truth of each, by request id."""
    from mloop.serving.formats import parse_request

    data = ctx.dataset()
    rows = data.X_val.to_dict(orient="records")
    labels: list[dict[str, Any]] = []
    for i in range(first, first + count):
        index = i % len(rows)
        body = orjson.dumps({"inputs": [rows[index]], "key": f"user-{i}"})
        outcome = await service.invoke(ENDPOINT, parse_request(body))
        labels.append({"request_id": outcome.request_id, "label": int(data.y_val[index])})
        clock.advance(_STEP_SECONDS / count + 0.01)
    return labels


async def _roll_out(ctx: DemoContext, runtime: Runtime, service: Any, clock: SimulatedClock) -> int:
    """Send traffic, label it and check the rollout until it ends; the requests sent."""
    from mloop.serving.evaluator import check_rollout

    client = mloop.Client()
    sent = 0
    for _ in range(8):  # a four-step ramp needs four checks; a breach ends it at once
        labels = await _traffic(ctx, service, clock, sent, _REQUESTS_PER_STEP)
        sent += len(labels)
        service.inference_log.log.flush()
        client.call("attach_labels", endpoint=ENDPOINT, labels=labels, origin="demo")
        result = check_rollout(runtime, ENDPOINT, now=clock())
        await service.refresh()  # follow the deployment the check moved to
        ctx.advance()
        if result.action in ("promote", "rollback", "none"):
            break
    return sent


async def _serve(ctx: DemoContext, runtime: Runtime, timeline: Timeline) -> None:
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    client = mloop.Client()
    name = ctx.config.model_name
    clock = SimulatedClock()
    log = StampedLog(InferenceLog(runtime), clock)
    service = ServingService(runtime, inference_log=log)
    try:
        client.call("create_endpoint", name=ENDPOINT, description="the demo's classifier")
        client.call(
            "deploy",
            endpoint=ENDPOINT,
            variants=[{"model": name, "alias": "champion", "trusted": _TRUSTED}],
            reason="first release: the champion",
        )
        labels = await _traffic(ctx, service, clock, 0, _REQUESTS_PER_STEP)
        log.log.flush()
        client.call("attach_labels", endpoint=ENDPOINT, labels=labels, origin="demo")
        timeline.requests += len(labels)
        ctx.advance()
        since = clock()
        for model, alias, reason in (
            (name, "challenger", "canary of the challenger"),
            (BROKEN_MODEL, None, "canary of a new model (broken)"),
        ):
            candidate: dict[str, Any] = {"model": model, "trusted": _TRUSTED}
            if alias is None:
                candidate["version"] = _register_broken(ctx)
            else:
                candidate["alias"] = alias
            client.call(
                "deploy",
                endpoint=ENDPOINT,
                strategy="canary",
                variants=[
                    {"model": name, "alias": "champion", "trusted": _TRUSTED}
                    if alias
                    else _live_stable(client),
                    candidate,
                ],
                rollout={
                    "ramp": {
                        "steps": [10, 50, 100],
                        "min_seconds": _STEP_SECONDS,
                        "min_requests": 10,
                    },
                    "rules": _RULES,
                },
                reason=reason,
            )
            await service.refresh()
            timeline.requests += await _roll_out(ctx, runtime, service, clock)
        timeline.comparison = _comparison(client, since, clock())
    finally:
        await service.aclose()


def _live_stable(client: Any) -> dict[str, Any]:
    """The live deployment's stable variant, as a variant spec."""
    live = client.call("endpoint_status", name=ENDPOINT).deployment
    stable = next(v for v in live.variants if v.role == "stable")
    return {"model": stable.model, "version": stable.version, "trusted": _TRUSTED}


def _comparison(client: Any, since: int, until: int) -> list[tuple[str, str, str, str]]:
    found = client.call("compare_variants", endpoint=ENDPOINT, since=since, until=until + 1)
    rows = []
    for stats in [found.baseline, *(o.version for o in found.others)]:
        if stats is None:
            continue
        accuracy = "-" if stats.metric_value is None else f"{stats.metric_value:.3f}"
        rows.append(
            (f"{stats.model} v{stats.version}", str(stats.requests), accuracy, str(stats.labelled))
        )
    return rows


def run_serving_step(ctx: DemoContext) -> None:
    """Deploy, simulate traffic, roll out by canary twice, keep the timeline."""
    ctx.begin(9)
    runtime = ctx.open_store()
    timeline = Timeline()
    try:
        asyncio.run(_serve(ctx, runtime, timeline))
        events = mloop.Client().call("list_deployment_events", endpoint=ENDPOINT).events
        timeline.events = [
            {"kind": e.kind, "actor": e.actor, "reason": e.reason} for e in reversed(events)
        ]
    finally:
        runtime.close()
    ctx.keep(timeline)
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    timeline = ctx.kept(Timeline)
    if timeline is None:
        return
    out.print(
        f"\nEndpoint [bold]{ENDPOINT}[/bold] served {timeline.requests} simulated requests; "
        "its deployment timeline (mloop advanced, promoted and rolled back by itself):"
    )
    print_table(
        None,
        ["#", "event", "who", "why"],
        [(i + 1, e["kind"], e["actor"], e["reason"] or "-") for i, e in enumerate(timeline.events)],
    )
    if timeline.comparison:
        print_table(
            "Versions served during the rollouts (labelled with the truth)",
            ["version", "requests", "accuracy", "labelled"],
            timeline.comparison,
        )


STEP = DemoStep(
    "serving", "Serving, canary rollouts and automatic rollback", run_serving_step, summarise
)
