"""Canary rollouts on gateway routes: a prompt version or a target model ramped with
serving's ramp plan and health rules, judged on the call log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.conftest import ServerHandle
from tests.llm.gateway.conftest import calls

from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.llm.rollouts.checks import check_route
from mloop.llm.rollouts.policy import (
    end_route_rollout,
    list_route_rollout_events,
    list_route_rollouts,
    start_route_rollout,
)
from mloop.llm.rollouts.schemas import EndRouteRollout, ListRouteRollouts, StartRouteRollout
from mloop.llm.rollouts.traffic import is_candidate
from mloop.llm.testing.fake_provider import FakeProvider, server_error
from mloop.prompts.labels import set_prompt_label
from mloop.prompts.schemas import CreatePromptVersion, SetPromptLabel
from mloop.prompts.versions import create_prompt_version
from mloop.serving.schemas import HealthRule, RampPlan

ROUTE = "support-reply"


def chat(handle: ServerHandle, key: str, **body: Any) -> httpx.Response:
    payload = {"model": ROUTE, **body}
    if "prompt" not in body:
        payload["messages"] = [{"role": "user", "content": "Where is my order?"}]
    return httpx.post(
        f"{handle.url}/v1/chat/completions",
        json=payload,
        headers={"x-mloop-sticky": key},
        timeout=60,
    )


def start(handle: ServerHandle, **fields: Any) -> Any:
    # These tests check with an injected clock: the background checks would race them.
    gateway = handle.app.state.gateway.get()
    gateway.rollout_checks.close()
    rollout = handle.runtime.run(
        lambda ctx: start_route_rollout(ctx, StartRouteRollout(route=ROUTE, **fields)),
        write=True,
        actor="alice",
    )
    gateway.rollouts.invalidate()  # no wait for the cache's refresh
    return rollout


def register_prompt(handle: ServerHandle) -> None:
    def register(ctx: Any) -> None:
        for text in ("v1: answer politely", "v2: answer warmly"):
            create_prompt_version(
                ctx,
                CreatePromptVersion(
                    name="support-reply",
                    messages=[
                        {"role": "system", "content": text},
                        {"role": "user", "content": "{{ question }}"},
                    ],
                    variables={"question": {"type": "string"}},
                ),
            )
        set_prompt_label(ctx, SetPromptLabel(name="support-reply", label="production", version=1))

    handle.runtime.run(register, write=True)


def test_a_prompt_version_canary_splits_by_weight_sticks_and_promotes(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    register_prompt(handle)
    rollout = start(
        handle,
        prompt="support-reply@production",
        prompt_version=2,
        ramp=RampPlan(steps=[30, 100], min_seconds=60, min_requests=5),
        rules=[HealthRule(kind="error_rate", threshold=0.2, min_samples=5)],
        reason="warmer tone",
    )
    assert (rollout.variant_kind, rollout.stable, rollout.candidate, rollout.weight) == (
        "prompt",
        "1",
        "2",
        30,
    )
    keys = [f"user-{i}" for i in range(60)]
    expected = {k: is_candidate(rollout, f"key:{k}") for k in keys}

    def ask(key: str, ref: str = "support-reply@production") -> None:
        sent = chat(handle, key, prompt=ref, variables={"question": key})
        assert sent.status_code == 200, sent.text

    for key in keys:
        ask(key)
    for _ in range(2):  # the same callers again: each keeps its version
        for key in keys[:10]:
            ask(key)
    seen: dict[str, set[str]] = {}
    for request in fake.requests:
        system, user = request.json()["messages"]
        seen.setdefault(user["content"], set()).add(system["content"][:2])
    assert seen == {k: {"v2" if expected[k] else "v1"} for k in keys}
    assert 8 <= sum(expected.values()) <= 30  # about 30% of 60
    versions = [r["prompt_version"] for r in calls(handle)]
    assert versions.count(2) == sum(expected.values()) + 2 * sum(expected[k] for k in keys[:10])
    # A request naming the prompt otherwise is not split, even a candidate caller's.
    ask(next(k for k in keys if expected[k]), "support-reply:1")
    assert fake.requests[-1].json()["messages"][0]["content"] == "v1: answer politely"

    # Healthy but young: the step holds until it has lasted min_seconds.
    held = check_route(handle.runtime, ROUTE)
    assert held.action == "wait" and "of 60 s" in held.reason
    later = check_route(handle.runtime, ROUTE, now=now_ms() + 61_000)
    assert later.action == "promote", later.reason
    (done,) = handle.runtime.run(
        lambda ctx: list_route_rollouts(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).rollouts
    assert (done.state, done.weight) == ("completed", 100)
    handle.app.state.gateway.get().rollouts.invalidate()
    fake.reset()
    ask(next(k for k in keys if not expected[k]))  # a stable caller gets the candidate now
    assert fake.requests[-1].json()["messages"][0]["content"] == "v2: answer warmly"

    # Ending it by hand returns the route to its label.
    handle.runtime.run(
        lambda ctx: end_route_rollout(ctx, EndRouteRollout(route=ROUTE, reason="label moved")),
        write=True,
    )
    handle.app.state.gateway.get().rollouts.invalidate()
    ask(next(k for k in keys if expected[k]))
    assert fake.requests[-1].json()["messages"][0]["content"] == "v1: answer politely"
    events = handle.runtime.run(
        lambda ctx: list_route_rollout_events(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).events
    assert [e.kind for e in events] == ["retire", "promote", "start"]
    assert events[2].actor == "alice" and events[1].actor == "mloop"


def test_an_erroring_candidate_target_is_rolled_back_with_the_reason(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    start(
        handle,
        target="backup/gpt-4.1",
        ramp=RampPlan(steps=[50, 100], min_seconds=0, min_requests=1000),
        rules=[HealthRule(kind="error_rate", threshold=0.1, min_samples=3)],
    )
    fake.script(*[server_error(500) for _ in range(100)], model="gpt-4.1")
    statuses = {f"user-{i}": chat(handle, f"user-{i}").status_code for i in range(24)}
    rows = calls(handle)
    failed = [r for r in rows if r["status"] == "error"]
    assert failed and all((r["provider"], r["model"]) == ("backup", "gpt-4.1") for r in failed)
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all(r["model"] == "gpt-4o-mini" for r in ok)
    assert sorted(set(statuses.values())) == [200, 502]

    result = check_route(handle.runtime, ROUTE)
    assert result.action == "rollback"
    assert "error_rate" in result.reason and f"{len(failed)} samples" in result.reason
    (rolled,) = handle.runtime.run(
        lambda ctx: list_route_rollouts(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).rollouts
    assert (rolled.state, rolled.weight, rolled.reason) == ("rolled_back", 0, result.reason)
    event = handle.runtime.run(
        lambda ctx: list_route_rollout_events(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).events[0]
    assert (event.kind, event.actor, event.detail["observed"]) == ("rollback", "mloop", 1.0)
    assert event.detail["rule"]["kind"] == "error_rate"
    # A second check finds nothing running; every caller is back on the route's targets.
    assert check_route(handle.runtime, ROUTE).action == "none"
    handle.app.state.gateway.get().rollouts.invalidate()
    for key in statuses:
        assert chat(handle, key).status_code == 200


def test_a_ramp_advances_step_by_step_under_an_injected_clock(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    start(
        handle,
        target="backup/gpt-4.1",
        ramp=RampPlan(steps=[10, 50, 100], min_seconds=30, min_requests=0),
        rules=[HealthRule(kind="latency", threshold=60_000, min_samples=1)],
    )
    for i in range(40):
        assert chat(handle, f"user-{i}").status_code == 200
    t0 = now_ms()
    first = check_route(handle.runtime, ROUTE, now=t0 + 31_000)
    assert (first.action, first.weight) == ("advance", 10) and "advanced to 50%" in first.reason
    assert check_route(handle.runtime, ROUTE, now=t0 + 40_000).action == "wait"
    last = check_route(handle.runtime, ROUTE, now=t0 + 62_000)
    assert last.action == "promote"
    kinds = [
        e.kind
        for e in handle.runtime.run(
            lambda ctx: list_route_rollout_events(ctx, ListRouteRollouts(route=ROUTE)),
            write=False,
        ).events
    ]
    assert kinds == ["promote", "advance", "start"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"target": "gpt-4o", "rules": [{"kind": "error_rate", "threshold": 0.1}]},
            "target",
            "provider/model",
        ),
        (
            {"target": "a/b", "prompt": "p@x", "rules": [{"kind": "error_rate", "threshold": 0.1}]},
            "target",
            "either",
        ),
        ({"target": "a/b"}, "ramp", "ramp plan, health rules or both"),
        (
            {"target": "a/b", "rules": [{"kind": "accuracy", "threshold": 0.9}]},
            "rules[0].kind",
            "call log",
        ),
        ({"target": "a/b", "ramp": {"steps": [5, 50]}}, "ramp.steps", "end it at 100"),
        (
            {"prompt": "support-reply", "prompt_version": 2, "ramp": {"steps": [100]}},
            "prompt",
            "name a label",
        ),
    ],
)
def test_bad_rollouts_are_refused_naming_the_field(
    runtime: Any, fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        runtime.run(
            lambda ctx: start_route_rollout(
                ctx, StartRouteRollout.model_validate({"route": ROUTE, **fields})
            ),
            write=True,
        )
    assert caught.value.field == field


def test_the_command_line_starts_lists_checks_and_ends_a_rollout(runtime: Any) -> None:
    from tests.cli.cli_helpers import Cli

    cli = Cli()
    out = cli.ok(
        "gateway",
        "rollout",
        "start",
        ROUTE,
        "--target",
        "backup/gpt-4.1",
        "--ramp",
        "5,50,100",
        "--rule",
        "error_rate>0.05",
        "--rule",
        "latency_p95>4000",
        "--min-samples",
        "20",
    )
    assert "backup/gpt-4.1 at 5%" in out.output
    (found,) = runtime.run(
        lambda ctx: list_route_rollouts(ctx, ListRouteRollouts(route=ROUTE)), write=False
    ).rollouts
    assert [(r.kind, r.threshold, r.quantile) for r in found.rules] == [
        ("error_rate", 0.05, None),
        ("latency", 4000, 0.95),
    ]
    assert "running" in cli.ok("gateway", "rollout", "list", ROUTE).output
    assert "holding" in cli.ok("gateway", "rollout", "check", ROUTE).output
    assert "cancelled" in cli.ok("gateway", "rollout", "end", ROUTE).output
    bad = cli(
        "gateway", "rollout", "start", ROUTE, "--target", "backup/gpt-4.1", "--rule", "accuracy<0.9"
    )
    assert bad.exit_code != 0 and "call log" in bad.output


def test_the_background_evaluator_checks_each_rollout_once_per_interval(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    from mloop.llm.rollouts.checks import RouteRolloutEvaluator, claim

    handle = start_gateway()
    rollout = start(
        handle,
        target="backup/gpt-4.1",
        ramp=RampPlan(steps=[50, 100], min_seconds=0, min_requests=1000),
        rules=[HealthRule(kind="error_rate", threshold=0.1, min_samples=3)],
    )
    fake.script(*[server_error(500) for _ in range(60)], model="gpt-4.1")
    for i in range(12):
        chat(handle, f"user-{i}")
    calls(handle)  # the call log is written
    clock = [now_ms()]
    one = RouteRolloutEvaluator(handle.runtime, interval_s=10, clock=lambda: clock[0])
    # Another replica checked it a moment ago: within the interval, this one leaves it.
    assert handle.runtime.run(lambda ctx: claim(ctx, rollout.id, clock[0] - 1, 9000), write=True)
    assert one.run_once() == []
    clock[0] += 9_000
    (result,) = one.run_once()
    assert result.action == "rollback" and "error_rate" in result.reason
    clock[0] += 10_000
    assert one.run_once() == []  # nothing runs any more
