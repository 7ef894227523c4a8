"""A deployment policy end to end, in process: a real training pipeline, a real suite and
gate, a real canary on an endpoint driven by simulated traffic, the worker's job queue.

A better candidate is promoted (alias moved, audited), a worse one stopped at the gate, an
unhealthy one rolled back, and with approval required nothing rolls out until a deployer
approves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mloop.automation.worker import Worker
from mloop.core.errors import ConflictError
from mloop.core.timeutil import now_ms
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.automation.policies_testing import (
    ENDPOINT,
    MODEL,
    POLICY,
    canary_traffic,
    policy_spec,
    prepare_store,
)


class _Later:
    """A worker clock ahead of real time by what the test skipped: a job that asked to come
    back after ``poll_seconds`` is due at once, while rollout checks read real time."""

    def __init__(self) -> None:
        self.skipped = 0

    def __call__(self) -> int:
        return now_ms() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += int(seconds * 1000)


@pytest.fixture
def store(runtime: Runtime) -> Iterator[tuple[Runtime, Worker, _Later]]:
    prepare_store(champion="poor")
    clock = _Later()
    yield runtime, Worker(runtime, worker_id="w1", lease_s=300, triggers=False, clock=clock), clock


def _run(runtime: Runtime, run_id: int) -> object:
    return call(runtime, "get_policy_run", id=run_id)


def _champion(runtime: Runtime) -> int:
    return int(call(runtime, "get_model_version_by_alias", name=MODEL, alias="champion").version)


def _live(runtime: Runtime) -> list[tuple[str, int, int]]:
    status = call(runtime, "endpoint_status", name=ENDPOINT)
    return [(v.model, v.version, v.weight) for v in status.deployment.variants]


def test_a_better_candidate_is_promoted_and_a_worse_one_stopped_at_the_gate(
    store: tuple[Runtime, Worker, _Later],
) -> None:
    runtime, worker, clock = store
    call(runtime, "create_deployment_policy", actor="root", **policy_spec())
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    assert run.state == "queued"

    assert worker.run_once() == 1  # trains, gates, starts the canary, then waits
    detail = _run(runtime, run.id)
    assert detail.run.state == "rolling_out", detail.run.reason
    candidate = detail.run.candidate_version
    assert candidate == 2 and detail.run.champion_version == 1
    assert detail.run.gate_outcome == "passed" and detail.run.rollout_id is not None
    assert sorted(_live(runtime)) == [(MODEL, 1, 50), (MODEL, 2, 50)]

    canary_traffic(runtime, candidate)
    clock.skip(5)
    assert worker.run_once() == 1  # the worker checks the canary: healthy, 100 %: promoted
    detail = _run(runtime, run.id)
    assert detail.run.state == "promoted", detail.run.reason
    assert _champion(runtime) == 2
    assert [(m, v) for m, v, _ in _live(runtime)] == [(MODEL, 2)]
    kinds = [e.kind for e in detail.events]
    assert kinds == ["queued", "training", "gating", "rolling_out", "canary_started", "promoted"]
    moves = call(runtime, "get_alias_history", name=MODEL, alias="champion").entries
    assert (moves[-1].from_version, moves[-1].to_version) == (1, 2)
    assert moves[-1].actor == f"policy:{POLICY}"  # audited: the policy moved it

    worse = call(
        runtime,
        "run_deployment_policy",
        actor="dee",
        name=POLICY,
        payload={"params": {"quality": "poor"}},
    )
    worker.run_once()
    detail = _run(runtime, worse.id)
    assert detail.run.state == "stopped_at_gate", detail.run.reason
    assert detail.run.candidate_version == 3 and detail.run.champion_version == 2
    assert detail.run.gate_outcome == "failed" and detail.run.rollout_id is None
    assert _champion(runtime) == 2 and [(m, v) for m, v, _ in _live(runtime)] == [(MODEL, 2)]
    policy = call(runtime, "get_deployment_policy", name=POLICY)
    assert policy.active_run is None


def test_an_unhealthy_candidate_is_rolled_back(store: tuple[Runtime, Worker, _Later]) -> None:
    runtime, worker, clock = store
    call(runtime, "create_deployment_policy", actor="root", **policy_spec())
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    worker.run_once()
    assert _run(runtime, run.id).run.state == "rolling_out"

    canary_traffic(runtime, 2, failing=True)
    clock.skip(5)
    worker.run_once()
    detail = _run(runtime, run.id)
    assert detail.run.state == "rolled_back"
    assert "error_rate" in detail.run.reason
    assert _champion(runtime) == 1  # the alias never moved
    assert [(m, v) for m, v, _ in _live(runtime)] == [(MODEL, 1)]


def test_with_approval_required_nothing_rolls_out_until_a_deployer_approves(
    store: tuple[Runtime, Worker, _Later],
) -> None:
    runtime, worker, clock = store
    call(runtime, "create_deployment_policy", actor="root", **policy_spec(require_approval=True))
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    worker.run_once()
    detail = _run(runtime, run.id)
    assert detail.run.state == "awaiting_approval" and detail.run.approval == "pending"
    assert [r.id for r in call(runtime, "list_pending_approvals").runs] == [run.id]
    clock.skip(3600)
    assert worker.run_once() == 0  # waiting for a person: no job polls
    assert [(m, v) for m, v, _ in _live(runtime)] == [(MODEL, 1)]

    approved = call(runtime, "approve_policy_run", actor="dee", id=run.id, comment="looks fine")
    assert approved.state == "rolling_out" and approved.decided_by == "dee"
    with pytest.raises(ConflictError):
        call(runtime, "reject_policy_run", actor="dee", id=run.id)
    assert call(runtime, "list_pending_approvals").runs == []
    worker.run_once()  # the approval queued the job: the canary starts
    assert _run(runtime, run.id).run.rollout_id is not None
    canary_traffic(runtime, 2)
    clock.skip(5)
    worker.run_once()
    detail = _run(runtime, run.id)
    assert detail.run.state == "promoted" and _champion(runtime) == 2
    approved_event = next(e for e in detail.events if e.kind == "approved")
    assert approved_event.actor == "dee" and "looks fine" in approved_event.reason


def test_a_rejected_candidate_ends_the_run(store: tuple[Runtime, Worker, _Later]) -> None:
    runtime, worker, _ = store
    call(runtime, "create_deployment_policy", actor="root", **policy_spec(require_approval=True))
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    worker.run_once()
    rejected = call(runtime, "reject_policy_run", actor="dee", id=run.id, comment="not today")
    assert rejected.state == "rejected" and rejected.approval == "rejected"
    assert _champion(runtime) == 1 and [(m, v) for m, v, _ in _live(runtime)] == [(MODEL, 1)]
    assert call(runtime, "get_deployment_policy", name=POLICY).active_run is None
