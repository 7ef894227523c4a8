"""Job operations: queue, read, list, count, cancel and retry jobs."""

from __future__ import annotations

from sqlalchemy import func, select, update

from mloop.automation import tables as t
from mloop.automation.jobs import check_kind, duplicate_of, enqueue_job
from mloop.automation.ops import operations
from mloop.automation.records import attempt_message, job_message, load_job_row
from mloop.automation.schemas import (
    JOB_STATUSES,
    Enqueued,
    EnqueueJob,
    Job,
    JobCounts,
    JobDetail,
    JobId,
    JobList,
    ListJobs,
)
from mloop.automation.triggers import trigger_events
from mloop.core.errors import ConflictError
from mloop.core.naming import check_asset_name, decode_page_token, encode_page_token
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.store.context import Context


@operations.post("/jobs/add", EnqueueJob, Enqueued, quick=True)
def add_job(ctx: Context, req: EnqueueJob) -> Enqueued:
    """Queue a job of a known kind (``job`` is null when ``dedup_key`` is already queued or
    running; ``duplicate_of`` names that job)."""
    job = enqueue_job(
        ctx,
        req.kind,
        req.payload,
        dedup_key=req.dedup_key,
        concurrency_key=req.concurrency_key,
        run_after_ms=req.run_after,
        max_attempts=req.max_attempts,
    )
    if job is None:
        assert req.dedup_key is not None
        return Enqueued(job=None, duplicate_of=duplicate_of(ctx, req.dedup_key))
    return Enqueued(job=job)


def job_detail(ctx: Context, job_id: int) -> JobDetail:
    """A job with its attempts and the trigger firings that queued it."""
    row = load_job_row(ctx, job_id)
    a = t.automation_job_attempts.c
    attempts = ctx.conn.execute(
        select(t.automation_job_attempts).where(a.job_id == job_id).order_by(a.attempt)
    )
    return JobDetail(
        job=job_message(row),
        attempts=[attempt_message(r) for r in attempts],
        events=trigger_events(ctx, job_id=job_id),
    )


@operations.get("/jobs/get", JobId, JobDetail, quick=True)
def get_job(ctx: Context, req: JobId) -> JobDetail:
    """One job with its attempts (worker, times, outcome) and the firing that queued it."""
    return job_detail(ctx, req.id)


@operations.get("/jobs/list", ListJobs, JobList, quick=True)
def list_jobs(ctx: Context, req: ListJobs) -> JobList:
    """Jobs, newest first, by status, kind or trigger."""
    j = t.automation_jobs.c
    query = select(t.automation_jobs)
    if req.status is not None:
        query = query.where(j.status == req.status)
    if req.kind is not None:
        query = query.where(j.kind == check_kind(req.kind))
    if req.trigger is not None:
        check_asset_name(req.trigger, "trigger", what="trigger name")
        query = query.where(j.trigger_name == req.trigger)
    offset = decode_page_token(req.page_token)
    rows = list(
        ctx.conn.execute(query.order_by(j.id.desc()).limit(req.max_results + 1).offset(offset))
    )
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return JobList(jobs=[job_message(r) for r in rows[: req.max_results]], next_page_token=token)


def count_by_status(ctx: Context) -> dict[str, int]:
    j = t.automation_jobs.c
    found = dict.fromkeys(JOB_STATUSES, 0)
    for status, n in ctx.conn.execute(select(j.status, func.count()).group_by(j.status)):
        found[status] = int(n)
    return found


@operations.get("/jobs/counts", Empty, JobCounts, quick=True)
def count_jobs(ctx: Context, req: Empty) -> JobCounts:
    """How many jobs are queued, running, succeeded, failed and cancelled."""
    return JobCounts(counts=count_by_status(ctx))


@operations.post("/jobs/cancel", JobId, Job, quick=True)
def cancel_job(ctx: Context, req: JobId) -> Job:
    """Cancel a queued or running job. A running handler is not interrupted, but its worker
    learns at its next lease renewal and its result is not recorded."""
    row = load_job_row(ctx, req.id, lock=True)
    if row.status not in ("queued", "running"):
        raise ConflictError(
            f"job {row.id} is {row.status}; only queued or running jobs cancel", field="id"
        )
    now = now_ms()
    ctx.conn.execute(
        update(t.automation_jobs)
        .where(t.automation_jobs.c.id == row.id)
        .values(
            status="cancelled",
            lease_owner=None,
            lease_expires_at=None,
            error=f"cancelled by {ctx.actor}",
            updated_at=now,
            finished_at=now,
        )
    )
    if row.status == "running":
        a = t.automation_job_attempts.c
        ctx.conn.execute(
            update(t.automation_job_attempts)
            .where(a.job_id == row.id, a.attempt == row.claims, a.outcome == "running")
            .values(outcome="cancelled", ended_at=now, error=f"cancelled by {ctx.actor}")
        )
    return job_message(load_job_row(ctx, row.id))


@operations.post("/jobs/retry", JobId, Job, quick=True)
def retry_job(ctx: Context, req: JobId) -> Job:
    """Queue a failed or cancelled job again, with one more attempt allowed."""
    row = load_job_row(ctx, req.id, lock=True)
    if row.status not in ("failed", "cancelled"):
        raise ConflictError(
            f"job {row.id} is {row.status}; only failed or cancelled jobs retry", field="id"
        )
    if row.dedup_key is not None and duplicate_of(ctx, row.dedup_key) is not None:
        raise ConflictError(
            f"job {duplicate_of(ctx, row.dedup_key)} with the same dedup_key is queued or running",
            field="id",
        )
    now = now_ms()
    ctx.conn.execute(
        update(t.automation_jobs)
        .where(t.automation_jobs.c.id == row.id)
        .values(
            status="queued",
            run_after=now,
            max_attempts=max(row.max_attempts, row.attempts + 1),
            finished_at=None,
            updated_at=now,
        )
    )
    return job_message(load_job_row(ctx, row.id))
