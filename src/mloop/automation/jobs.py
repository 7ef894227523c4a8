"""The job queue in the metadata database: enqueue, claim with a lease, renew, finish.

A claim is one conditional UPDATE of a queued job whose time has come (``status='queued'``
still holds when the UPDATE runs), so of two workers racing for a job one gets it. On
PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so racing workers do not wait
for each other, and the partial unique indexes settle what a read cannot: one queued or
running job per ``dedup_key``, one running job per ``concurrency_key`` (a losing UPDATE or
INSERT runs in a savepoint and moves on). SQLite runs one writer at a time (every write
transaction begins ``IMMEDIATE``), so there the reads are exact.

A running job holds a lease that its worker renews. A lease that runs out (the worker died or
hung) is reaped before each claim: the attempt is recorded ``lease_expired`` and the job
queued again, or failed once it has used ``max_attempts``. A worker finishes a job only
while it still holds that claim, so a job is never finished by two workers.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any, Literal

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mloop.automation import tables as t
from mloop.automation.kinds import JOB_KINDS
from mloop.automation.records import check_payload, dumps, job_message, load_job_row
from mloop.automation.schemas import MAX_ATTEMPTS, Job
from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.store.context import Context

CANDIDATES = 16  # queued jobs read per claim attempt; racing workers move on to the next
RETRY_BASE_MS = 5_000  # a failed attempt waits 5 s, 10 s, 20 s... before the next
RETRY_MAX_MS = 300_000
MAX_ERROR = 10_000

Finish = Literal["succeeded", "failed", "again"]


def _savepoint(ctx: Context) -> AbstractContextManager[Any]:
    """A savepoint where a unique index may refuse a write under a race: on PostgreSQL the
    failed statement would abort the transaction. SQLite has one writer, so no race."""
    if ctx.conn.dialect.name == "sqlite":
        return contextlib.nullcontext()
    return ctx.conn.begin_nested()


def check_kind(kind: str, field: str = "kind") -> str:
    if kind not in JOB_KINDS:
        known = ", ".join(sorted(JOB_KINDS))
        raise ValidationError(f"{field} {kind!r} is not a job kind (known: {known})", field=field)
    return kind


def _active_duplicate(ctx: Context, dedup_key: str) -> int | None:
    j = t.automation_jobs.c
    return ctx.conn.execute(
        select(j.id).where(j.dedup_key == dedup_key, j.status.in_(("queued", "running")))
    ).scalar()


def enqueue_job(
    ctx: Context,
    kind: str,
    payload: dict[str, Any],
    *,
    dedup_key: str | None = None,
    concurrency_key: str | None = None,
    run_after_ms: int | None = None,
    max_attempts: int = 3,
    trigger: str | None = None,
) -> Job | None:
    """Queue a job in the caller's transaction; None when a queued or running job already has
    ``dedup_key``. ``kind`` must be a key of :data:`~mloop.automation.kinds.JOB_KINDS`."""
    check_kind(kind)
    raw = check_payload(payload, "payload")
    for field, key in (("dedup_key", dedup_key), ("concurrency_key", concurrency_key)):
        if key is not None and not check_text(key, field, max_length=256).strip():
            raise ValidationError(f"{field} is empty", field=field)
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise ValidationError(f"max_attempts must be 1 to {MAX_ATTEMPTS}", field="max_attempts")
    if run_after_ms is not None and run_after_ms < 0:
        raise ValidationError("run_after must be a time in ms since the epoch", field="run_after")
    if dedup_key is not None and _active_duplicate(ctx, dedup_key) is not None:
        return None
    now = now_ms()
    try:
        with _savepoint(ctx):
            job_id = ctx.conn.execute(
                insert(t.automation_jobs)
                .values(
                    kind=kind,
                    payload_json=raw,
                    status="queued",
                    dedup_key=dedup_key,
                    concurrency_key=concurrency_key,
                    attempts=0,
                    claims=0,
                    max_attempts=max_attempts,
                    run_after=now if run_after_ms is None else run_after_ms,
                    state_json="{}",
                    trigger_name=trigger,
                    created_by=ctx.actor,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.automation_jobs.c.id)
            ).scalar_one()
    except IntegrityError:
        # Another transaction queued the same dedup_key between our read and insert.
        return None
    return job_message(load_job_row(ctx, job_id))


def duplicate_of(ctx: Context, dedup_key: str) -> int | None:
    """The queued or running job holding ``dedup_key``, if any."""
    return _active_duplicate(ctx, dedup_key)


def _end_attempt(ctx: Context, job_id: int, claim: int, outcome: str, now: int, error: Any) -> None:
    a = t.automation_job_attempts.c
    ctx.conn.execute(
        update(t.automation_job_attempts)
        .where(a.job_id == job_id, a.attempt == claim, a.outcome == "running")
        .values(outcome=outcome, ended_at=now, error=error)
    )


def reap_expired(ctx: Context, now: int) -> int:
    """Take back the jobs whose lease ran out: queued again (recorded as a retry) or failed
    when they used their attempts. The number taken back."""
    j = t.automation_jobs.c
    query = (
        select(t.automation_jobs)
        .where(j.status == "running", j.lease_expires_at <= now)
        .order_by(j.lease_expires_at)
        .limit(100)
    )
    if ctx.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken = 0
    for row in list(ctx.conn.execute(query)):
        error = (
            f"attempt {row.attempts}: the lease of worker {row.lease_owner} ran out "
            "(the worker stopped or hung)"
        )
        last = row.attempts >= row.max_attempts
        done = ctx.conn.execute(
            update(t.automation_jobs)
            .where(j.id == row.id, j.status == "running", j.claims == row.claims)
            .values(
                status="failed" if last else "queued",
                run_after=now,
                lease_owner=None,
                lease_expires_at=None,
                error=error,
                updated_at=now,
                finished_at=now if last else None,
            )
        ).rowcount
        if done:
            _end_attempt(ctx, row.id, row.claims, "lease_expired", now, error)
            taken += 1
    return taken


def _candidates(ctx: Context, now: int) -> list[Any]:
    j = t.automation_jobs.c
    running = t.automation_jobs.alias("running")
    query = (
        select(j.id, j.claims)
        .where(
            j.status == "queued",
            j.run_after <= now,
            or_(
                j.concurrency_key.is_(None),
                ~exists().where(
                    running.c.concurrency_key == j.concurrency_key,
                    running.c.status == "running",
                ),
            ),
        )
        .order_by(j.run_after, j.id)
        .limit(CANDIDATES)
    )
    if ctx.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=t.automation_jobs)
    return list(ctx.conn.execute(query))


def claim_job(ctx: Context, worker_id: str, *, lease_ms: int, now: int | None = None) -> Job | None:
    """Take the next due job for ``worker_id`` with a lease of ``lease_ms``; None when no job
    is due. Expired leases are reaped first."""
    now = now_ms() if now is None else now
    reap_expired(ctx, now)
    j = t.automation_jobs.c
    for job_id, claims in _candidates(ctx, now):
        try:
            with _savepoint(ctx):
                won = ctx.conn.execute(
                    update(t.automation_jobs)
                    .where(j.id == job_id, j.status == "queued", j.claims == claims)
                    .values(
                        status="running",
                        attempts=j.attempts + 1,
                        claims=claims + 1,
                        lease_owner=worker_id,
                        lease_expires_at=now + lease_ms,
                        started_at=func.coalesce(j.started_at, now),
                        updated_at=now,
                    )
                ).rowcount
        except IntegrityError:
            continue  # another worker started a job with the same concurrency_key
        if not won:
            continue
        ctx.conn.execute(
            insert(t.automation_job_attempts).values(
                job_id=job_id,
                attempt=claims + 1,
                worker=worker_id,
                started_at=now,
                outcome="running",
            )
        )
        return job_message(load_job_row(ctx, job_id))
    return None


def _held(job_id: int, worker_id: str, claim: int) -> Any:
    j = t.automation_jobs.c
    return and_(
        j.id == job_id, j.status == "running", j.lease_owner == worker_id, j.claims == claim
    )


def renew_lease(
    ctx: Context, job_id: int, worker_id: str, claim: int, *, lease_ms: int, now: int | None = None
) -> bool:
    """Extend the lease a worker holds; False when it no longer holds the job (its lease ran
    out and the job was taken back, or the job was cancelled)."""
    now = now_ms() if now is None else now
    return bool(
        ctx.conn.execute(
            update(t.automation_jobs)
            .where(_held(job_id, worker_id, claim))
            .values(lease_expires_at=now + lease_ms, updated_at=now)
        ).rowcount
    )


def finish_job(
    ctx: Context,
    job_id: int,
    worker_id: str,
    claim: int,
    outcome: Finish,
    *,
    result: Any = None,
    error: str | None = None,
    again_after_ms: int = 0,
    state: dict[str, Any] | None = None,
    now: int | None = None,
) -> bool:
    """Record how a claimed run ended; False (nothing written) when the worker no longer
    holds the claim.

    ``succeeded`` stores ``result``; ``failed`` queues the job again after a backoff, or fails
    it once its attempts are used; ``again`` queues it after ``again_after_ms`` without
    counting an attempt (a handler waiting on something), keeping ``state``.
    """
    now = now_ms() if now is None else now
    row = load_job_row(ctx, job_id)
    if not (row.status == "running" and row.lease_owner == worker_id and row.claims == claim):
        _end_attempt(ctx, job_id, claim, "lease_lost", now, "the lease ran out before the end")
        return False
    error = None if error is None else error[:MAX_ERROR]
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if state is not None:
        values["state_json"] = check_payload(state, "state")
    if outcome == "succeeded":
        values.update(status="succeeded", result_json=dumps(result), error=None, finished_at=now)
    elif outcome == "again":
        values.update(status="queued", run_after=now + again_after_ms, attempts=row.attempts - 1)
    elif row.attempts >= row.max_attempts:
        values.update(status="failed", error=error, finished_at=now)
    else:
        backoff = min(RETRY_BASE_MS * 2 ** (row.attempts - 1), RETRY_MAX_MS)
        values.update(status="queued", error=error, run_after=now + backoff)
    done = ctx.conn.execute(
        update(t.automation_jobs).where(_held(job_id, worker_id, claim)).values(**values)
    ).rowcount
    if done:
        _end_attempt(ctx, job_id, claim, outcome, now, error)
    return bool(done)
