"""Deployment policies without training: checks of a policy at the boundary, one run in
flight per policy (queue or skip), cancelling, and the job kind's wiring."""

from __future__ import annotations

import pytest

from mloop.automation.kinds import JOB_KINDS
from mloop.automation.policy_runner import advance_policy_run, candidate_of
from mloop.automation.policy_runs import load_run_row, take_policy
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.automation.policies_testing import ENDPOINT, MODEL, POLICY, policy_spec


@pytest.fixture
def endpoint(runtime: Runtime) -> Runtime:
    call(runtime, "create_endpoint", name=ENDPOINT)
    return runtime


def test_a_policy_is_stored_with_its_defaults_and_listed_by_model(endpoint: Runtime) -> None:
    created = call(endpoint, "create_deployment_policy", actor="root", **policy_spec())
    assert created.champion_alias == "champion" and created.enabled and not created.trusted
    assert created.concurrency == "queue" and created.created_by == "root"
    assert created.rollout.ramp is not None and created.rollout.ramp.steps == [50, 100]
    assert [p.name for p in call(endpoint, "list_deployment_policies", model=MODEL).policies] == [
        POLICY
    ]
    assert call(endpoint, "list_deployment_policies", model="other").policies == []
    with pytest.raises(ConflictError):
        call(endpoint, "create_deployment_policy", **policy_spec())
    updated = call(endpoint, "update_deployment_policy", **policy_spec(require_approval=True))
    assert updated.require_approval and updated.id == created.id
    call(endpoint, "delete_deployment_policy", name=POLICY)
    with pytest.raises(NotFoundError):
        call(endpoint, "get_deployment_policy", name=POLICY)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"endpoint": "nowhere"}, "endpoint"),
        ({"pipeline": "not a reference"}, "pipeline"),
        ({"suite": "suite/0"}, "suite"),
        ({"champion_alias": "latest"}, "champion_alias"),
        ({"poll_seconds": 0}, "poll_seconds"),
        ({"rollout": {"ramp": {"steps": [50, 90]}}}, "rollout.ramp.steps"),
        ({"rollout": {"ramp": {"steps": [60, 40, 100]}}}, "rollout.ramp.steps[1]"),
        ({"rollout": {"rules": [{"kind": "error_rate", "threshold": 0.1}]}}, "rollout.ramp"),
        (
            {
                "rollout": {
                    "ramp": {"steps": [100]},
                    "rules": [{"kind": "error_rate", "threshold": 2}],
                }
            },
            "rollout.rules[0].threshold",
        ),
        ({"params": {"blob": "x" * 70_000}}, "params"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(
    endpoint: Runtime, changes: dict[str, object], field: str
) -> None:
    with pytest.raises((ValidationError, NotFoundError)) as caught:
        call(endpoint, "create_deployment_policy", **policy_spec(**changes))
    assert caught.value.field == field, caught.value
    assert call(endpoint, "list_deployment_policies").policies == []


def test_runs_of_unknown_or_ended_things_are_refused(endpoint: Runtime) -> None:
    with pytest.raises(NotFoundError):
        call(endpoint, "run_deployment_policy", name="missing")
    with pytest.raises(NotFoundError):
        call(endpoint, "get_policy_run", id=99)
    with pytest.raises(ValidationError) as caught:
        call(endpoint, "approve_policy_run", id=0)
    assert caught.value.field == "id"
    call(endpoint, "create_deployment_policy", **policy_spec())
    with pytest.raises(ValidationError) as caught:
        call(endpoint, "run_deployment_policy", name=POLICY, payload={"params": [1]})
    assert caught.value.field == "payload.params"
    run = call(endpoint, "run_deployment_policy", name=POLICY)
    with pytest.raises(ConflictError):
        call(endpoint, "approve_policy_run", id=run.id)  # not awaiting approval


def _hold(runtime: Runtime, run_id: int) -> None:
    """Make ``run_id`` the policy's run in flight, as a worker starting it would."""
    assert runtime.run(lambda ctx: take_policy(ctx, POLICY, run_id), write=True)


def test_a_second_run_waits_its_turn_or_is_skipped(endpoint: Runtime) -> None:
    call(endpoint, "create_deployment_policy", **policy_spec())
    first = call(endpoint, "run_deployment_policy", name=POLICY)
    second = call(endpoint, "run_deployment_policy", name=POLICY)
    _hold(endpoint, first.id)
    step = advance_policy_run(endpoint, second.id)
    assert step.run.state == "queued" and step.again_after_s == 5  # the policy's poll
    assert not endpoint.run(lambda ctx: take_policy(ctx, POLICY, second.id), write=True)

    call(endpoint, "update_deployment_policy", **policy_spec(concurrency="skip"))
    third = call(endpoint, "run_deployment_policy", name=POLICY)
    # Runs keep the spec they were created with: the second still queues, the third skips.
    assert advance_policy_run(endpoint, second.id).run.state == "queued"
    step = advance_policy_run(endpoint, third.id)
    assert step.run.state == "skipped" and step.again_after_s is None
    assert f"run {first.id}" in step.run.reason

    cancelled = call(endpoint, "cancel_policy_run", actor="dee", id=first.id, reason="stop")
    assert cancelled.state == "cancelled" and "dee" in cancelled.reason
    assert call(endpoint, "get_deployment_policy", name=POLICY).active_run is None
    with pytest.raises(ConflictError):
        call(endpoint, "cancel_policy_run", id=first.id)


def test_an_older_queued_run_goes_first(endpoint: Runtime) -> None:
    call(endpoint, "create_deployment_policy", **policy_spec(pipeline="tests.nowhere:train"))
    older = call(endpoint, "run_deployment_policy", name=POLICY)
    newer = call(endpoint, "run_deployment_policy", name=POLICY)
    assert advance_policy_run(endpoint, newer.id).run.state == "queued"
    # The older one starts; its pipeline cannot be imported, so the run fails and says why.
    step = advance_policy_run(endpoint, older.id)
    assert step.run.state == "failed" and "tests.nowhere" in step.run.reason
    assert call(endpoint, "get_deployment_policy", name=POLICY).active_run is None
    row = endpoint.run(lambda ctx: load_run_row(ctx, newer.id), write=False)
    assert row.state == "queued"


def test_a_disabled_policy_records_its_runs_as_skipped(endpoint: Runtime) -> None:
    call(endpoint, "create_deployment_policy", **policy_spec(enabled=False))
    run = call(endpoint, "run_deployment_policy", name=POLICY)
    assert run.state == "skipped" and "disabled" in run.reason
    assert call(endpoint, "list_policy_runs", policy=POLICY, state="skipped").runs[0].id == run.id


def test_a_deleted_policy_cancels_its_queued_runs(endpoint: Runtime) -> None:
    call(endpoint, "create_deployment_policy", **policy_spec())
    run = call(endpoint, "run_deployment_policy", name=POLICY)
    call(endpoint, "delete_deployment_policy", name=POLICY)
    step = advance_policy_run(endpoint, run.id)
    assert step.run.state == "cancelled" and "deleted" in step.run.reason
    assert [e.kind for e in call(endpoint, "get_policy_run", id=run.id).events] == [
        "queued",
        "cancelled",
    ]


@pytest.mark.parametrize(
    ("outputs", "version"),
    [
        (f"models:/{MODEL}/7", 7),
        ({"model": f"models:/{MODEL}/3", "accuracy": 0.9}, 3),
        (["models:/other/1", f"models:/{MODEL}/12"], 12),
    ],
)
def test_the_candidate_is_what_the_pipeline_returned(outputs: object, version: int) -> None:
    assert candidate_of(outputs, MODEL) == version


@pytest.mark.parametrize(
    "outputs", [None, "models:/churn@champion", "models:/other/1", [f"models:/{MODEL}/1"] * 2]
)
def test_a_pipeline_that_returns_no_single_candidate_is_refused(outputs: object) -> None:
    with pytest.raises(ValidationError) as caught:
        candidate_of(outputs, MODEL)
    assert caught.value.field == "pipeline"


def test_the_policy_job_kind_is_declared() -> None:
    assert JOB_KINDS["policy"] == "mloop.automation.policy_jobs:run_policy_job"


def test_the_sdk_reaches_every_policy_operation(endpoint: Runtime) -> None:
    import mloop.automation as automation

    spec = policy_spec()
    created = automation.create_deployment_policy(
        spec.pop("name"),
        model=spec.pop("model"),
        pipeline=spec.pop("pipeline"),
        suite=spec.pop("suite"),
        endpoint=spec.pop("endpoint"),
        **spec,
    )
    assert automation.get_deployment_policy(POLICY).id == created.id
    assert [p.name for p in automation.list_deployment_policies(MODEL)] == [POLICY]
    run = automation.run_policy_now(POLICY, params={"quality": "poor"}, reason="by hand")
    assert run.trigger == "api" and run.reason == "by hand"
    assert automation.get_policy_run(run.id).run.state == "queued"
    assert automation.pending_approvals() == []
    with pytest.raises(ConflictError):
        automation.approve(run.id)
    with pytest.raises(ConflictError):
        automation.reject(run.id)
    assert automation.model_timeline(MODEL).entries[0].title.endswith("queued")
    automation.delete_deployment_policy(POLICY)
    assert automation.list_deployment_policies() == []
