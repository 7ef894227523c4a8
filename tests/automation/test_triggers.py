"""Triggers: checked configuration, de-duplication windows and concurrency policies, a drift
storm of 50 alerts starting one job, cron schedules, review labels, several workers checking
one trigger, and the trigger event log (on PostgreSQL too when ``MLOOP_TEST_DATABASE_URL``
is set)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mloop.automation.jobs import claim_job
from mloop.automation.worker import Worker
from mloop.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.store.runtime import Runtime
from tests.alerts.alerts_testing import add_rule, window
from tests.automation.automation_testing import Clock, call
from tests.review.review_testing import add_cases, answer, make_queue, take

PIPELINE = {"pipeline": "tests.automation.flows:retrain", "params": {"model": "churn"}}


def _trigger(runtime: Runtime, name: str, kind: str = "manual", **fields: Any) -> Any:
    fields.setdefault("target", PIPELINE)
    return call(runtime, "create_trigger", name=name, kind=kind, **fields)


def _events(runtime: Runtime, trigger: str) -> list[Any]:
    return list(call(runtime, "list_trigger_events", trigger=trigger).events)


def _jobs(runtime: Runtime, trigger: str) -> list[Any]:
    return list(call(runtime, "list_jobs", trigger=trigger).jobs)


def test_fifty_firings_in_a_window_start_one_job(runtime: Runtime) -> None:
    _trigger(runtime, "retrain", dedup_window_s=3600, concurrency="parallel")
    for _ in range(50):
        call(runtime, "fire_trigger", name="retrain", payload={"why": "drift"})
    outcomes = [e.outcome for e in _events(runtime, "retrain")]
    assert outcomes == ["fired"] + ["deduplicated"] * 49
    (job,) = _jobs(runtime, "retrain")
    assert job.kind == "pipeline"
    assert job.payload == {
        "pipeline": "tests.automation.flows:retrain",
        "params": {"model": "churn"},
        "executor": "local",
        "trigger": "retrain",
        "event": {"why": "drift"},
    }


def test_concurrency_skip_holds_firings_while_a_job_is_queued_or_running(
    runtime: Runtime,
) -> None:
    _trigger(runtime, "retrain", concurrency="skip")
    first = call(runtime, "fire_trigger", name="retrain")
    assert first.event.outcome == "fired" and first.job is not None
    again = call(runtime, "fire_trigger", name="retrain")
    assert again.event.outcome == "skipped" and again.job is None
    assert f"job {first.job.id}" in again.event.reason
    runtime.run(lambda ctx: claim_job(ctx, "w", lease_ms=60_000), write=True)
    assert call(runtime, "fire_trigger", name="retrain").event.outcome == "skipped"


def test_queue_one_queues_one_behind_a_running_job(runtime: Runtime) -> None:
    _trigger(runtime, "retrain", concurrency="queue_one")
    call(runtime, "fire_trigger", name="retrain")
    runtime.run(lambda ctx: claim_job(ctx, "w", lease_ms=60_000), write=True)
    assert call(runtime, "fire_trigger", name="retrain").event.outcome == "fired"
    assert call(runtime, "fire_trigger", name="retrain").event.outcome == "skipped"
    jobs = _jobs(runtime, "retrain")
    assert sorted(j.status for j in jobs) == ["queued", "running"]
    # The queued one waits: one trigger's jobs never run side by side.
    assert runtime.run(lambda ctx: claim_job(ctx, "w2", lease_ms=60_000), write=True) is None


def test_parallel_and_disabled_triggers(runtime: Runtime) -> None:
    _trigger(runtime, "fan", concurrency="parallel")
    for _ in range(3):
        assert call(runtime, "fire_trigger", name="fan").event.outcome == "fired"
    call(runtime, "update_trigger", name="fan", enabled=False)
    off = call(runtime, "fire_trigger", name="fan")
    assert off.event.outcome == "skipped" and off.event.reason == "the trigger is disabled"
    assert len(_jobs(runtime, "fan")) == 3


def test_a_drift_storm_of_fifty_alerts_starts_one_job(runtime: Runtime) -> None:
    add_rule(runtime, name="column-drift", metric="drift.column.*.score", threshold=0.3)
    _trigger(
        runtime,
        "on-drift",
        "alert",
        config={"monitor": "churn-drift", "kinds": ["drift"], "check_s": 60},
    )
    storm = {f"drift.column.c{i}.score": 0.9 for i in range(50)}
    subject = {"monitor": "churn-drift", "endpoint": "churn"}
    clock = Clock(now_ms() + 1000)
    raised = window(runtime, 0, storm, subject=subject, now=clock.now)
    assert len(raised) == 50
    worker = Worker(runtime, worker_id="w", clock=clock)
    assert worker.check_triggers() == 1
    (event,) = _events(runtime, "on-drift")
    assert event.outcome == "fired" and event.source == "alert"
    assert event.payload["alert_count"] == 50
    assert event.payload["monitors"] == ["churn-drift"] and event.payload["kinds"] == ["drift"]
    # The storm goes on in the next windows: more alerts, still one job.
    for i in range(1, 3):
        clock.advance(61)
        more = {f"drift.column.d{i}_{k}.score": 0.9 for k in range(50)}
        window(runtime, i, more, subject=subject, now=clock.now)
        worker.check_triggers()
    assert len(_jobs(runtime, "on-drift")) == 1
    assert [e.outcome for e in _events(runtime, "on-drift")] == ["fired", "skipped", "skipped"]


def test_alerts_of_other_monitors_and_kinds_do_not_fire(runtime: Runtime) -> None:
    add_rule(runtime, name="any", metric="*", threshold=0.3)
    _trigger(runtime, "on-drift", "alert", config={"monitor": "churn-drift"})
    clock = Clock(now_ms() + 1000)
    window(runtime, 0, {"drift.share": 0.9}, subject={"monitor": "other"}, now=clock.now)
    window(
        runtime, 0, {"quality.missing.age": 0.9}, subject={"monitor": "churn-drift"}, now=clock.now
    )
    assert Worker(runtime, worker_id="w", clock=clock).check_triggers() == 0
    assert _events(runtime, "on-drift") == []


def test_a_cron_trigger_fires_once_per_due_time(runtime: Runtime) -> None:
    created = _trigger(runtime, "nightly", "cron", config={"schedule": "0 3 * * *"}).trigger
    due = created.next_check_at
    assert due is not None and due % 86_400_000 == 3 * 3_600_000  # 03:00 UTC
    clock = Clock(due - 1)
    worker = Worker(runtime, worker_id="w", clock=clock)
    assert worker.check_triggers() == 0
    clock.advance(0.001)
    assert worker.check_triggers() == 1
    assert worker.check_triggers() == 0
    # A worker that was down for three days fires once, not three times.
    clock.advance(3 * 86_400 + 60)
    assert worker.check_triggers() == 1
    found = _events(runtime, "nightly")
    assert [e.payload["scheduled_at"] for e in found] == [due, due + 3 * 86_400_000]
    assert call(runtime, "get_trigger", name="nightly").next_check_at == due + 4 * 86_400_000


def test_enough_new_review_labels_fire(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    _trigger(runtime, "relabelled", "labels", config={"queue": "loans", "min_labels": 3})
    add_cases(runtime, "loans", 5)
    clock = Clock(now_ms())
    worker = Worker(runtime, worker_id="w", clock=clock)

    def label(n: int) -> None:
        for _ in range(n):
            item = take(runtime, "loans", "rev").item
            answer(runtime, item.id, "rev", "approve")

    label(2)
    clock.advance(31)
    assert worker.check_triggers() == 0
    label(1)
    clock.advance(31)
    assert worker.check_triggers() == 1
    (event,) = _events(runtime, "relabelled")
    assert event.payload["labels"] == 3 and event.payload["queue"] == "loans"
    clock.advance(31)
    assert worker.check_triggers() == 0  # those three are counted; none new


def test_several_workers_checking_one_trigger_fire_it_once(runtime: Runtime) -> None:
    created = _trigger(runtime, "hourly", "cron", config={"schedule": "0 * * * *"}).trigger
    clock = Clock(created.next_check_at)
    workers = [Worker(runtime, worker_id=f"w{i}", clock=clock) for i in range(4)]
    barrier = threading.Barrier(len(workers))
    counts: list[int] = []

    def check(worker: Worker) -> None:
        barrier.wait()
        counts.append(worker.check_triggers())

    threads = [threading.Thread(target=check, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 0, 1]
    assert len(_events(runtime, "hourly")) == 1


def test_a_policy_target_needs_the_deployer_to_fire_it(runtime: Runtime) -> None:
    _trigger(runtime, "promote", target={"policy": "churn"})
    with pytest.raises(PermissionDeniedError) as caught:
        call(runtime, "fire_trigger", name="promote")
    assert "deployer" in caught.value.message
    fired = call(runtime, "fire_policy_trigger", name="promote", payload={"why": "manual"})
    assert fired.job.kind == "policy"
    assert fired.job.payload == {
        "policy": "churn",
        "trigger": "promote",
        "event": {"why": "manual"},
    }
    assert [e.policy for e in call(runtime, "list_trigger_events", policy="churn").events] == [
        "churn"
    ]


def test_payload_params_override_the_targets(runtime: Runtime) -> None:
    _trigger(runtime, "retrain")
    fired = call(runtime, "fire_trigger", name="retrain", payload={"params": {"model": "fraud"}})
    assert fired.job.payload["params"] == {"model": "fraud"}
    with pytest.raises(ValidationError) as caught:
        call(runtime, "fire_trigger", name="retrain", payload={"params": [1]})
    assert caught.value.field == "payload.params"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "cron", "config": {"schedule": "every day"}}, "config.schedule"),
        ({"kind": "cron", "config": {}}, "config.schedule"),
        ({"kind": "labels", "config": {"queue": "q", "min_label": 3}}, "config.min_label"),
        ({"kind": "labels", "config": {"queue": "q", "min_labels": 0}}, "config.min_labels"),
        ({"kind": "alert", "config": {"kinds": ["weather"]}}, "config.kinds.0"),
        ({"kind": "alert", "config": {"monitor": "a b"}}, "config.monitor"),
        ({"kind": "manual", "config": {"x": 1}}, "config.x"),
        ({"target": {}}, "target"),
        ({"target": {"pipeline": "a:b", "policy": "p"}}, "target"),
        ({"target": {"pipeline": "not a ref"}}, "target.pipeline"),
        ({"target": {"policy": "p", "params": {"a": 1}}}, "target.params"),
        ({"name": "bad name"}, "name"),
    ],
)
def test_bad_triggers_are_refused_naming_the_field(
    runtime: Runtime, fields: dict[str, Any], field: str
) -> None:
    spec = {"name": "t", "kind": "manual", "target": PIPELINE, **fields}
    with pytest.raises(ValidationError) as caught:
        call(runtime, "create_trigger", **spec)
    assert caught.value.field == field


def test_trigger_names_are_unique_and_deletes_keep_the_history(runtime: Runtime) -> None:
    _trigger(runtime, "retrain")
    with pytest.raises(ConflictError):
        _trigger(runtime, "retrain")
    call(runtime, "fire_trigger", name="retrain")
    call(runtime, "delete_trigger", name="retrain", actor="admin")
    with pytest.raises(NotFoundError):
        call(runtime, "get_trigger", name="retrain")
    assert len(_events(runtime, "retrain")) == 1
    assert len(_jobs(runtime, "retrain")) == 1
