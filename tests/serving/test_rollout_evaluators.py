"""Who evaluates: two evaluators (two replicas' runtimes on one database) deciding at the
same moment never both advance or both roll back; background evaluators share the work by
claiming each rollout once per interval; the background thread rolls back a breach."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.serving.rollout_testing import canary, current, events, traffic

from mloop.core.config import Settings
from mloop.serving.evaluator import RolloutEvaluator, check_rollout
from mloop.serving.schemas import CheckResult
from mloop.store.runtime import Runtime, open_runtime

S = 1000


@pytest.fixture(autouse=True)
def _models(models: dict[str, Any]) -> None:
    """churn v1 and v2 are registered."""


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes on the same store, as two serving replicas have."""
    first, second = open_runtime(settings), open_runtime(settings)
    yield first, second
    first.close()
    second.close()


def _together(replicas: tuple[Runtime, Runtime], endpoint: str, now: int) -> list[CheckResult]:
    """Both replicas check ``endpoint`` at once; their results."""
    barrier = threading.Barrier(2)
    results: list[CheckResult] = []
    failures: list[BaseException] = []

    def run(rt: Runtime) -> None:
        try:
            barrier.wait()
            results.append(check_rollout(rt, endpoint, now=now))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return results


def test_two_evaluators_never_both_advance(
    runtime: Runtime, replicas: tuple[Runtime, Runtime]
) -> None:
    steps = [10, 20, 30, 40, 50, 100]
    rollout = canary("churn-api", ramp={"steps": steps, "min_seconds": 0, "min_requests": 0})
    now = rollout.started_at
    for round_ in range(1, len(steps)):
        now += S
        results = _together(replicas, "churn-api", now)
        actions = sorted(r.action for r in results)
        expected = "promote" if round_ == len(steps) - 1 else "advance"
        assert actions == sorted(["none", expected]), results
        loser = next(r for r in results if r.action == "none")
        assert loser.reason == "another evaluator acted on this rollout first"
        assert current("churn-api").step == round_
    kinds = [e.kind for e in events("churn-api")]
    assert kinds == ["deploy", "deploy", *["advance"] * 4, "promote"]
    assert current("churn-api").state == "completed"


def test_two_evaluators_never_both_roll_back(
    runtime: Runtime, replicas: tuple[Runtime, Runtime]
) -> None:
    rule = {"kind": "error_rate", "threshold": 0.1, "min_samples": 5}
    rollout = canary("churn-api", rules=[rule])
    traffic(
        runtime, "churn-api", "candidate", 2, start=rollout.started_at + S, count=20, status="error"
    )
    results = _together(replicas, "churn-api", rollout.started_at + 10 * S)
    assert sorted(r.action for r in results) == ["none", "rollback"]
    kinds = [e.kind for e in events("churn-api")]
    assert kinds == ["deploy", "deploy", "rollback"]
    live = check_rollout(runtime, "churn-api", now=rollout.started_at + 11 * S)
    assert live.action == "none" and live.reason == "no rollout is running"


def test_background_evaluators_claim_each_rollout_once_per_interval(
    runtime: Runtime, replicas: tuple[Runtime, Runtime]
) -> None:
    rollout = canary("churn-api", ramp={"steps": [10, 100], "min_seconds": 600, "min_requests": 0})
    clock = {"now": rollout.started_at + S}
    evaluators = [
        RolloutEvaluator(rt, interval_s=10, clock=lambda: clock["now"]) for rt in replicas
    ]
    first = evaluators[0].run_once()
    assert [r.action for r in first] == ["wait"]
    assert evaluators[1].run_once() == []  # claimed by the first this interval
    clock["now"] += 10 * S
    assert [r.action for r in evaluators[1].run_once()] == ["wait"]
    assert evaluators[0].run_once() == []
    watching_other = RolloutEvaluator(runtime, endpoints=lambda: ["other"], clock=lambda: 0)
    assert watching_other.run_once() == []
    clock["now"] = rollout.started_at + 601 * S
    assert [r.action for r in evaluators[0].run_once()] == ["promote"]


def test_the_background_thread_rolls_back_a_breach(runtime: Runtime) -> None:
    rule = {"kind": "error_rate", "threshold": 0.1, "min_samples": 5}
    rollout = canary("churn-api", rules=[rule])
    traffic(
        runtime, "churn-api", "candidate", 2, start=rollout.started_at, count=20, status="error"
    )
    evaluator = RolloutEvaluator(runtime, interval_s=0.05)
    evaluator.start()
    try:
        deadline = time.monotonic() + 60
        while current("churn-api").state == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        evaluator.close()
    assert current("churn-api").state == "rolled_back"
    assert [e.kind for e in events("churn-api")][-1] == "rollback"
