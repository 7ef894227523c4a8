"""The job queue: claims with leases, de-duplication and concurrency keys, retries with
backoff, jobs that ask to be called again, a worker that dies mid-job, and several workers
as threads draining one queue (on PostgreSQL too when ``MLOOP_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from mloop.automation import tables as t
from mloop.automation.jobs import claim_job, enqueue_job, finish_job, renew_lease
from mloop.automation.jobs_api import job_detail
from mloop.automation.worker import Worker
from mloop.core.errors import ValidationError
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import Clock, Recorder


def _enqueue(runtime: Runtime, kind: str = "test-record", **options: Any) -> Any:
    payload = options.pop("payload", {})
    return runtime.run(lambda ctx: enqueue_job(ctx, kind, payload, **options), write=True)


def _claim(runtime: Runtime, worker: str, clock: Clock, lease_s: float = 60) -> Any:
    return runtime.run(
        lambda ctx: claim_job(ctx, worker, lease_ms=int(lease_s * 1000), now=clock()), write=True
    )


def _detail(runtime: Runtime, job_id: int) -> Any:
    return runtime.run(lambda ctx: job_detail(ctx, job_id), write=False)


def test_a_job_runs_once_and_keeps_its_result(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    job = _enqueue(runtime, payload={"n": 7}, run_after_ms=clock.now)
    worker = Worker(runtime, worker_id="w1", clock=clock)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    found = _detail(runtime, job.id)
    assert found.job.status == "succeeded"
    assert found.job.result == {"echo": 7}
    assert found.job.attempts == 1 and found.job.lease_owner is None
    assert [(a.attempt, a.worker, a.outcome) for a in found.attempts] == [(1, "w1", "succeeded")]
    assert test_kinds.runs == [(job.id, "w1")]


def test_a_job_waits_for_its_time(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    _enqueue(runtime, run_after_ms=clock.now + 60_000)
    assert _claim(runtime, "w1", clock) is None
    clock.advance(60)
    assert _claim(runtime, "w1", clock) is not None


def test_a_dedup_key_holds_one_queued_or_running_job(
    runtime: Runtime, test_kinds: Recorder
) -> None:
    clock = Clock()
    first = _enqueue(runtime, dedup_key="retrain:churn", run_after_ms=clock.now)
    assert _enqueue(runtime, dedup_key="retrain:churn") is None
    claimed = _claim(runtime, "w1", clock)
    assert claimed.id == first.id
    assert _enqueue(runtime, dedup_key="retrain:churn") is None  # running counts too
    done = runtime.run(
        lambda ctx: finish_job(ctx, first.id, "w1", claimed.claims, "succeeded", now=clock()),
        write=True,
    )
    assert done
    assert _enqueue(runtime, dedup_key="retrain:churn") is not None  # finished: a new one


def test_a_concurrency_key_runs_one_job_at_a_time(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    a = _enqueue(runtime, concurrency_key="model:churn", run_after_ms=clock.now)
    b = _enqueue(runtime, concurrency_key="model:churn", run_after_ms=clock.now)
    other = _enqueue(runtime, concurrency_key="model:fraud", run_after_ms=clock.now)
    first = _claim(runtime, "w1", clock)
    second = _claim(runtime, "w2", clock)
    assert (first.id, second.id) == (a.id, other.id)  # b waits behind a
    assert _claim(runtime, "w3", clock) is None
    runtime.run(
        lambda ctx: finish_job(ctx, a.id, "w1", first.claims, "succeeded", now=clock()), write=True
    )
    assert _claim(runtime, "w3", clock).id == b.id


def test_a_died_worker_s_job_is_retried_after_its_lease(
    runtime: Runtime, test_kinds: Recorder
) -> None:
    """A worker claims and never renews (it died): after the lease another worker takes the
    job, the first attempt is on record as lease_expired, and the dead worker can no longer
    finish it."""
    clock = Clock()
    job = _enqueue(runtime, payload={"n": 1}, run_after_ms=clock.now)
    dead = _claim(runtime, "dead", clock, lease_s=30)
    assert dead.id == job.id
    alive = Worker(runtime, worker_id="alive", lease_s=30, clock=clock)
    clock.advance(29)
    assert alive.run_once() == 0  # the lease still holds
    clock.advance(2)
    assert alive.run_once() == 1
    found = _detail(runtime, job.id)
    assert found.job.status == "succeeded" and found.job.attempts == 2
    assert [(a.attempt, a.worker, a.outcome) for a in found.attempts] == [
        (1, "dead", "lease_expired"),
        (2, "alive", "succeeded"),
    ]
    assert "lease of worker dead ran out" in (found.attempts[0].error or "")
    late = runtime.run(
        lambda ctx: finish_job(ctx, job.id, "dead", dead.claims, "succeeded", now=clock()),
        write=True,
    )
    assert late is False
    assert test_kinds.runs == [(job.id, "alive")]


def test_a_renewed_lease_is_not_taken(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    job = _enqueue(runtime, run_after_ms=clock.now)
    held = _claim(runtime, "w1", clock, lease_s=30)
    for _ in range(3):
        clock.advance(20)
        assert runtime.run(
            lambda ctx: renew_lease(ctx, job.id, "w1", held.claims, lease_ms=30_000, now=clock()),
            write=True,
        )
        assert _claim(runtime, "w2", clock) is None


def test_leases_that_keep_running_out_fail_the_job(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    job = _enqueue(runtime, max_attempts=2, run_after_ms=clock.now)
    for worker in ("a", "b"):
        assert _claim(runtime, worker, clock, lease_s=10) is not None
        clock.advance(11)
    assert _claim(runtime, "c", clock) is None  # reaped: failed, not queued
    found = _detail(runtime, job.id)
    assert found.job.status == "failed"
    assert [a.outcome for a in found.attempts] == ["lease_expired", "lease_expired"]


def test_a_failing_job_is_retried_with_backoff_then_failed(
    runtime: Runtime, test_kinds: Recorder
) -> None:
    clock = Clock()
    job = _enqueue(runtime, "test-fail", max_attempts=3, run_after_ms=clock.now)
    worker = Worker(runtime, worker_id="w", clock=clock)
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # waiting 5 s
    clock.advance(5)
    assert worker.run_once() == 1
    clock.advance(9)
    assert worker.run_once() == 0  # waiting 10 s
    clock.advance(1)
    assert worker.run_once() == 1
    found = _detail(runtime, job.id)
    assert found.job.status == "failed" and found.job.attempts == 3
    assert [a.outcome for a in found.attempts] == ["failed"] * 3
    assert found.job.error == "RuntimeError: boom on attempt 3"


def test_a_job_may_ask_to_be_called_again(runtime: Runtime, test_kinds: Recorder) -> None:
    clock = Clock()
    job = _enqueue(runtime, "test-again", max_attempts=1, run_after_ms=clock.now)
    worker = Worker(runtime, worker_id="w", clock=clock)
    for _ in range(2):
        assert worker.run_once() == 1
        assert _detail(runtime, job.id).job.status == "queued"
        clock.advance(30)
    assert worker.run_once() == 1
    found = _detail(runtime, job.id)
    # Waiting is not failing: one attempt allowed, three calls made.
    assert found.job.status == "succeeded" and found.job.result == {"calls": 3}
    assert [a.outcome for a in found.attempts] == ["again", "again", "succeeded"]


def test_several_workers_run_each_job_exactly_once(runtime: Runtime, test_kinds: Recorder) -> None:
    ids = {_enqueue(runtime, payload={"n": i, "hold_s": 0.01}).id for i in range(40)}
    workers = [Worker(runtime, worker_id=f"w{i}", poll_s=0.05) for i in range(4)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        for _ in range(600):
            done = runtime.run(
                lambda ctx: ctx.conn.execute(
                    select(t.automation_jobs.c.id).where(t.automation_jobs.c.status == "succeeded")
                ).all(),
                write=False,
            )
            if len(done) == len(ids):
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    ran = [job_id for job_id, _worker in test_kinds.runs]
    assert sorted(ran) == sorted(ids)  # every job, each once
    assert test_kinds.overlaps == []
    attempts = runtime.run(
        lambda ctx: ctx.conn.execute(select(t.automation_job_attempts.c.outcome)).scalars().all(),
        write=False,
    )
    assert attempts == ["succeeded"] * len(ids)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "nope"}, "kind"),
        ({"payload": {"x": "y" * 70_000}}, "payload"),
        ({"payload": {"x": float("nan")}}, "payload"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"dedup_key": "  "}, "dedup_key"),
        ({"run_after_ms": -1}, "run_after"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(
    runtime: Runtime, test_kinds: Recorder, options: dict[str, Any], field: str
) -> None:
    kind = options.pop("kind", "test-record")
    with pytest.raises(ValidationError) as caught:
        _enqueue(runtime, kind, **options)
    assert caught.value.field == field
