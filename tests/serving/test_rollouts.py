"""Canary rollouts: a ramp advances only after its minimum time AND request count, each kind
of health rule rolls back on a breach and says why, healthy rollouts are left alone, manual
changes end a rollout, and bad plans are refused naming the field. The evaluator's clock is
injected and traffic is written to the inference log at chosen times: nothing sleeps."""

from __future__ import annotations

from typing import Any

import pytest
from tests.serving.rollout_testing import canary, current, events, traffic
from tests.serving.serving_testing import call, variant

from mloop.core.errors import ValidationError
from mloop.serving.evaluator import check_rollout
from mloop.store.runtime import Runtime

S = 1000  # ms

ERROR_RULE = {"kind": "error_rate", "threshold": 0.2, "window_seconds": 600, "min_samples": 5}


@pytest.fixture(autouse=True)
def _models(models: dict[str, Any]) -> None:
    """churn v1 and v2 are registered (the serving conftest)."""


def test_ramp_advances_only_after_min_time_and_min_requests(runtime: Runtime) -> None:
    ramp = {"steps": [10, 50, 100], "min_seconds": 60, "min_requests": 20}
    rollout = canary("churn-api", ramp=ramp, rules=[ERROR_RULE])
    t0 = rollout.step_started_at
    assert (rollout.state, rollout.step, rollout.weight) == ("running", 0, 10)
    live = call("endpoint_status", name="churn-api").deployment
    assert {v.name: v.weight for v in live.variants} == {"stable": 90, "candidate": 10}

    traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=10)
    traffic(runtime, "churn-api", "stable", 1, start=t0 + S, count=90)
    # Long enough, too few requests: holds.
    held = check_rollout(runtime, "churn-api", now=t0 + 61 * S)
    assert held.action == "wait" and held.step_requests == 10
    assert "10 of 20 requests in this step" in held.reason
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + 62 * S, count=15)
    # Enough requests, and (still) long enough: advances to 50.
    advanced = check_rollout(runtime, "churn-api", now=t0 + 64 * S)
    assert advanced.action == "advance", advanced.reason
    assert "advanced to 50%" in advanced.reason
    live = call("endpoint_status", name="churn-api").deployment
    assert {v.name: v.weight for v in live.variants} == {"stable": 50, "candidate": 50}
    assert live.id == advanced.deployment
    t1 = t0 + 64 * S
    assert (current("churn-api").step, current("churn-api").step_started_at) == (1, t1)

    # The new step counts its own requests and time: plenty of requests, too soon.
    traffic(runtime, "churn-api", "candidate", 2, start=t1 + S, count=40)
    soon = check_rollout(runtime, "churn-api", now=t1 + 30 * S)
    assert soon.action == "wait" and "the step has lasted 30 of 60 s" in soon.reason
    assert soon.step_requests == 40
    done = check_rollout(runtime, "churn-api", now=t1 + 60 * S)
    assert done.action == "promote" and "ramp complete" in done.reason
    live = call("endpoint_status", name="churn-api").deployment
    assert live.strategy == "single" and [(v.version, v.weight) for v in live.variants] == [
        (2, 100)
    ]
    finished = current("churn-api")
    assert finished.state == "completed" and finished.deployment_id == live.id
    trail = [(e.kind, e.actor) for e in events("churn-api")]
    assert trail[-2:] == [("advance", "mloop"), ("promote", "mloop")]
    advance = events("churn-api")[-2]
    assert advance.detail["weights"] == {"candidate": 50, "stable": 50}
    assert advance.detail["step_requests"] == 25
    # A finished rollout is not checked again.
    assert check_rollout(runtime, "churn-api", now=t1 + 999 * S).action == "none"


def _broken_latency(i: int) -> float:
    return 900.0 if i % 10 == 0 else 3.0


BREACHES: dict[str, dict[str, Any]] = {
    "error_rate": {
        "rule": ERROR_RULE,
        "candidate": {"status": lambda i: "error" if i % 2 else "ok"},
        "observed": 0.5,
    },
    "latency": {
        "rule": {"kind": "latency", "threshold": 100, "quantile": 0.95, "min_samples": 5},
        "candidate": {"latency_ms": _broken_latency},
        "observed": 900.0,
    },
    "prediction_shift": {
        "rule": {"kind": "prediction_shift", "threshold": 0.01, "min_samples": 20},
        "candidate": {"prediction": lambda i: 1},
        "observed": None,  # a p-value far below 0.01
    },
    "prediction_shift_ks_confidence": {
        "rule": {
            "kind": "prediction_shift",
            "threshold": 0.01,
            "test": "ks",
            "on": "confidence",
            "min_samples": 20,
        },
        "candidate": {"confidence": lambda i: 0.5 + (i % 5) / 100},
        "observed": None,
    },
    "psi": {
        "rule": {"kind": "prediction_shift", "test": "psi", "threshold": 0.25, "min_samples": 20},
        "candidate": {"prediction": lambda i: 1},
        "observed": None,
    },
}


@pytest.mark.parametrize("case", sorted(BREACHES))
def test_a_breach_of_each_rule_rolls_back_and_records_why(runtime: Runtime, case: str) -> None:
    spec = BREACHES[case]
    ramp = {"steps": [10, 100], "min_seconds": 0, "min_requests": 1}
    rollout = canary("churn-api", ramp=ramp, rules=[spec["rule"]])
    t0 = rollout.started_at
    # The stable variant: varied predictions, confidence spread from 0.6 to 0.99.
    traffic(
        runtime,
        "churn-api",
        "stable",
        1,
        start=t0 + S,
        count=60,
        confidence=lambda i: 0.6 + (i % 40) / 100,
    )
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=60, **spec["candidate"])
    result = check_rollout(runtime, "churn-api", now=t0 + 30 * S)
    assert result.action == "rollback", result
    breached = [c for c in result.rules if c.status == "breached"]
    assert [c.kind for c in breached] == [spec["rule"]["kind"]]
    if spec["observed"] is not None:
        assert breached[0].observed == pytest.approx(spec["observed"])
    live = call("endpoint_status", name="churn-api").deployment
    assert live.id == rollout.base_deployment and live.state == "active"
    assert [v.version for v in live.variants] == [1]
    last = events("churn-api")[-1]
    assert (last.kind, last.actor, last.from_deployment, last.to_deployment) == (
        "rollback",
        "mloop",
        rollout.deployment_id,
        rollout.base_deployment,
    )
    assert last.detail["rule"]["kind"] == spec["rule"]["kind"]
    assert last.detail["threshold"] == spec["rule"]["threshold"]
    assert last.detail["observed"] == breached[0].observed
    assert last.detail["window_seconds"] == spec["rule"].get("window_seconds", 300)
    assert last.detail["samples"] == breached[0].samples
    assert f"({spec['rule']['kind']}) breached" in last.reason
    ended = current("churn-api")
    assert ended.state == "rolled_back" and ended.reason == last.reason


@pytest.mark.parametrize(
    ("rule", "labels", "observed"),
    [
        ({"kind": "accuracy", "threshold": 0.8, "min_samples": 10}, lambda i: 0, 0.5),
        ({"kind": "mae", "threshold": 0.3, "min_samples": 10}, lambda i: 0, 0.5),
        ({"kind": "rmse", "threshold": 0.3, "min_samples": 10}, lambda i: 0, 0.5**0.5),
    ],
)
def test_a_breach_on_labelled_outcomes_rolls_back(
    runtime: Runtime, rule: dict[str, Any], labels: Any, observed: float
) -> None:
    rollout = canary("churn-api", rules=[rule])
    t0 = rollout.started_at
    ids = traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=40)
    waiting = check_rollout(runtime, "churn-api", now=t0 + 30 * S)
    assert waiting.action == "none" and waiting.rules[0].status == "waiting"
    assert "0 of the 10 samples needed" in waiting.rules[0].detail
    call(
        "attach_labels",
        endpoint="churn-api",
        labels=[{"request_id": r, "label": labels(i)} for i, r in enumerate(ids)],
    )
    result = check_rollout(runtime, "churn-api", now=t0 + 31 * S)
    assert result.action == "rollback"
    assert result.rules[0].observed == pytest.approx(observed)
    assert result.rules[0].samples == 40
    assert events("churn-api")[-1].detail["rule"]["kind"] == rule["kind"]


def test_healthy_rollouts_are_left_alone(runtime: Runtime) -> None:
    rules = [
        ERROR_RULE,
        {"kind": "latency", "threshold": 100, "min_samples": 5},
        {"kind": "prediction_shift", "threshold": 0.01, "min_samples": 20},
        {"kind": "prediction_shift", "test": "psi", "threshold": 0.25, "min_samples": 20},
    ]
    rollout = canary("churn-api", rules=rules)
    t0 = rollout.started_at
    # A few errors (below 20 %), fast, the same spread of predictions as the stable variant.
    traffic(runtime, "churn-api", "stable", 1, start=t0 + S, count=200)
    traffic(
        runtime,
        "churn-api",
        "candidate",
        2,
        start=t0 + S,
        count=100,
        status=lambda i: "error" if i % 10 == 0 else "ok",
    )
    for seconds in (30, 60, 120):
        result = check_rollout(runtime, "churn-api", now=t0 + seconds * S)
        assert result.action == "none" and result.reason == "healthy", result
        assert [c.status for c in result.rules] == ["ok"] * 4
    assert result.rules[0].observed == pytest.approx(0.1)
    assert [e.kind for e in events("churn-api")] == ["deploy", "deploy"]
    assert current("churn-api").state == "running"
    assert current("churn-api").last_check == result


def test_requests_refused_as_invalid_or_overloaded_are_not_the_models_doing(
    runtime: Runtime,
) -> None:
    rollout = canary("churn-api", rules=[ERROR_RULE])
    t0 = rollout.started_at
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=40)
    for status in ("invalid", "overloaded"):
        traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=40, status=status)
    result = check_rollout(runtime, "churn-api", now=t0 + 60 * S)
    assert result.action == "none" and result.rules[0].observed == 0.0
    assert result.rules[0].samples == 40


def test_errors_from_before_the_window_or_the_rollout_do_not_count(runtime: Runtime) -> None:
    rule = {**ERROR_RULE, "window_seconds": 60}
    rollout = canary("churn-api", rules=[rule])
    t0 = rollout.started_at
    # Failures of the same version before this rollout started, then long ago in the window.
    traffic(runtime, "churn-api", "candidate", 2, start=t0 - 100 * S, count=50, status="error")
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=50, status="error")
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + 200 * S, count=50)
    result = check_rollout(runtime, "churn-api", now=t0 + 230 * S)
    assert result.action == "none" and result.rules[0].observed == 0.0
    assert result.rules[0].samples == 50


def test_a_canary_without_an_earlier_deployment_rolls_back_to_its_stable_variant(
    runtime: Runtime,
) -> None:
    rollout = canary("churn-api", rules=[ERROR_RULE], first=True)
    assert rollout.base_deployment is None
    traffic(
        runtime, "churn-api", "candidate", 2, start=rollout.started_at + S, count=20, status="error"
    )
    assert check_rollout(runtime, "churn-api", now=rollout.started_at + 9 * S).action == (
        "rollback"
    )
    live = call("endpoint_status", name="churn-api").deployment
    assert live.strategy == "single" and [(v.name, v.version) for v in live.variants] == [
        ("stable", 1)
    ]


def test_changes_by_hand_end_the_rollout(runtime: Runtime) -> None:
    rollout = canary("churn-api", ramp={"steps": [5, 100]}, rules=[ERROR_RULE])
    call("set_traffic_weights", endpoint="churn-api", weights={"candidate": 20, "stable": 80})
    ended = current("churn-api")
    assert ended.state == "cancelled" and "weights by" in ended.reason
    assert check_rollout(runtime, "churn-api", now=rollout.started_at + 999 * S).action == "none"
    canary_again = {"steps": [5, 100]}
    call(
        "deploy",
        endpoint="churn-api",
        strategy="canary",
        variants=[variant("churn", version=1), variant("churn", version=2)],
        rollout={"ramp": canary_again},
    )
    call("rollback", endpoint="churn-api")
    assert current("churn-api").state == "cancelled"
    assert "rolled back by hand" in current("churn-api").reason


@pytest.mark.parametrize(
    ("strategy", "rollout", "weight", "field", "message"),
    [
        ("single", {"rules": [ERROR_RULE]}, None, "rollout", "deploy with strategy canary"),
        ("canary", {}, 10, "rollout", "needs a ramp plan, health rules or both"),
        ("canary", {"ramp": {"steps": [5, 5, 100]}}, None, "rollout.ramp.steps[1]", "increase"),
        ("canary", {"ramp": {"steps": [5, 150]}}, None, "rollout.ramp.steps[1]", "1 to 100"),
        ("canary", {"ramp": {"steps": [5, 50]}}, None, "rollout.ramp.steps", "end it at 100"),
        ("canary", {"ramp": {"steps": [5, 100]}}, 10, "variants[1].weight", "starts at 5"),
        (
            "canary",
            {"rules": [{"kind": "error_rate", "threshold": 2}]},
            10,
            "rollout.rules[0].threshold",
            "from 0 to 1",
        ),
        (
            "canary",
            {"rules": [ERROR_RULE, {"kind": "error_rate", "threshold": 0.1, "quantile": 0.9}]},
            10,
            "rollout.rules[1].quantile",
            "latency rules only",
        ),
        (
            "canary",
            {"rules": [{"kind": "latency", "threshold": 50, "quantile": 1.5}]},
            10,
            "rollout.rules[0].quantile",
            "between 0 and 1",
        ),
        (
            "canary",
            {"rules": [{"kind": "accuracy", "threshold": 0.9, "test": "ks"}]},
            10,
            "rollout.rules[0].test",
            "prediction_shift rules only",
        ),
        (
            "canary",
            {
                "rules": [
                    {
                        "kind": "prediction_shift",
                        "threshold": 0.01,
                        "test": "chi2",
                        "on": "confidence",
                    }
                ]
            },
            10,
            "rollout.rules[0].test",
            "use ks or psi",
        ),
    ],
)
def test_bad_rollouts_are_refused_naming_the_field(
    strategy: str, rollout: dict[str, Any], weight: int | None, field: str, message: str
) -> None:
    call("create_endpoint", name="churn-api")
    variants = [variant("churn", version=1)]
    if strategy == "canary":
        variants.append(variant("churn", version=2, weight=weight))
    with pytest.raises(ValidationError, match=message) as caught:
        call("deploy", endpoint="churn-api", strategy=strategy, variants=variants, rollout=rollout)
    assert caught.value.field == field
    assert call("endpoint_status", name="churn-api").deployment is None
    assert call("list_endpoint_rollouts", endpoint="churn-api").rollouts == []


def test_a_ramp_of_one_step_holds_at_100_then_promotes(runtime: Runtime) -> None:
    """[100] sends all traffic to the candidate at once, kept undoable until it is healthy
    for the step's minimums (it used to fail every check looking for a next step)."""
    ramp = {"steps": [100], "min_seconds": 60, "min_requests": 5}
    rollout = canary("churn-api", ramp=ramp, rules=[ERROR_RULE])
    t0 = rollout.step_started_at
    assert (rollout.step, rollout.weight) == (0, 100)
    traffic(runtime, "churn-api", "candidate", 2, start=t0 + S, count=10)
    held = check_rollout(runtime, "churn-api", now=t0 + 30 * S)
    assert held.action == "wait" and "the step has lasted 30 of 60 s" in held.reason
    done = check_rollout(runtime, "churn-api", now=t0 + 61 * S)
    assert done.action == "promote" and "ramp complete" in done.reason
    live = call("endpoint_status", name="churn-api").deployment
    assert [(v.version, v.weight) for v in live.variants] == [(2, 100)]
