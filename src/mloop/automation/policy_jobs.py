"""Policy runs on the job queue: starting one now (deployer), cancelling one, and the job
kind ``policy`` that advances a run (:func:`run_policy_job`).

A run is advanced by one job at a time: its jobs share the ``dedup_key`` and
``concurrency_key`` ``policy-run:<id>``. A job waits (the queue's "again") while the run
waits for its turn or its canary; a run waiting for approval ends its job, and the decision
queues the next one. A trigger's firing queues a job with ``{"policy": name, "trigger":
..., "event": ...}``: it creates the run, linked to the firing's trigger event, and queues
the run's own job; a retried firing job finds that run instead of creating a second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mloop.automation import policy_tables as t
from mloop.automation.ops import operations
from mloop.automation.policy_runner import advance_policy_run, start_policy_run
from mloop.automation.policy_runs import load_run_row, run_message, transition
from mloop.automation.policy_schemas import ACTIVE_STATES, CancelRun, PolicyRun, RunPolicy
from mloop.core.errors import ConflictError, ValidationError
from mloop.store.context import Context

JOB_KIND = "policy"


def _key(run_id: int) -> str:
    return f"policy-run:{run_id}"


def enqueue_run(ctx: Context, run_id: int, *, after_ms: int | None = None) -> None:
    """Queue a job that advances run ``run_id`` (none is queued twice for one run)."""
    from mloop.automation.jobs import enqueue_job

    enqueue_job(
        ctx,
        JOB_KIND,
        {"run_id": run_id},
        dedup_key=_key(run_id),
        concurrency_key=_key(run_id),
        run_after_ms=after_ms,
    )


@operations.post("/policies/run", RunPolicy, PolicyRun, role="deployer")
def run_deployment_policy(ctx: Context, req: RunPolicy) -> PolicyRun:
    """Start a run of a policy now; a worker (``mloop worker``) carries it out."""
    if "params" in req.payload and not isinstance(req.payload["params"], dict):
        raise ValidationError("payload.params must be a JSON object", field="payload.params")
    run = start_policy_run(
        ctx, req.name, trigger=req.trigger, payload=req.payload, reason=req.reason
    )
    if run.active:
        enqueue_run(ctx, run.id)
    return run


@operations.post("/policy-runs/cancel", CancelRun, PolicyRun, role="deployer")
def cancel_policy_run(ctx: Context, req: CancelRun) -> PolicyRun:
    """Cancel a run in flight. A canary already started is left as it is on the endpoint
    (roll it back or promote it there); the champion alias is not moved."""
    row = load_run_row(ctx, req.id)
    if row.state not in ACTIVE_STATES:
        raise ConflictError(f"policy run {req.id} has ended ({row.state})", field="id")
    why = f"cancelled by {ctx.actor}" + (f": {req.reason}" if req.reason else "")
    if row.state == "rolling_out" and row.rollout_id is not None:
        why += f"; rollout {row.rollout_id} on {row.endpoint!r} is left to people"
    moved = transition(ctx, row, "cancelled", why)
    if moved is None:
        raise ConflictError(f"policy run {req.id} moved meanwhile; look again", field="id")
    return run_message(moved)


def _start_for_firing(ctx: Context, job: Any) -> PolicyRun:
    """The run a trigger's firing starts, with its job queued; a retried firing job finds
    the run it created before (by the firing's trigger event)."""
    from mloop.automation.triggers import trigger_events

    payload = job.payload
    name = payload.get("policy")
    if not isinstance(name, str):
        raise ValidationError("a policy job names a run_id or a policy", field="payload")
    events = trigger_events(ctx, job_id=job.id, limit=1)
    event_id = events[0].id if events else None
    if event_id is not None:
        r = t.policy_runs
        found = ctx.conn.execute(
            select(r.c.id).where(r.c.policy == name, r.c.trigger_event_id == event_id)
        ).scalar()
        if found is not None:
            return run_message(load_run_row(ctx, int(found)))
    event = payload.get("event")
    run = start_policy_run(
        ctx,
        name,
        trigger=str(payload.get("trigger") or "trigger"),
        trigger_event_id=event_id,
        payload=event if isinstance(event, dict) else {},
        reason=f"trigger {payload.get('trigger')!r} fired"
        + ("" if event_id is None else f" (event {event_id})"),
    )
    if run.active:
        enqueue_run(ctx, run.id)
    return run


def run_policy_job(job: Any) -> dict[str, Any] | None:
    """The job kind ``policy``: advance one run as far as it goes now; wait and come back
    while it waits for its turn or its canary."""
    runtime = job.runtime
    run_id = job.payload.get("run_id")
    if run_id is None:  # a firing: create the run, whose own job carries it on
        created = runtime.run(lambda ctx: _start_for_firing(ctx, job), write=True)
        return {"run": created.id, "state": created.state, "reason": created.reason}
    step = advance_policy_run(runtime, int(run_id), client=getattr(job, "client", None))
    if step.again_after_s is not None and step.run.active:
        job.again(after_s=step.again_after_s)
    return {"run": step.run.id, "state": step.run.state, "reason": step.run.reason}
