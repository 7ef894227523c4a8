"""Firing a trigger: de-duplication, the concurrency policy, the job, the event.

Every firing, whatever its source (a schedule, an alert, labels, a dataset version, a person,
an API call, a webhook), goes through :func:`fire` under the trigger's row lock and leaves
one trigger event: ``fired`` with the job it queued, ``deduplicated`` (within the trigger's
window after its last firing) or ``skipped`` (the concurrency policy held it back, or the
trigger is disabled). So a storm of 50 drift alerts starts one job, and the other 49 are on
record with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, insert, select, update

from mloop.automation import tables as t
from mloop.automation.jobs import enqueue_job
from mloop.automation.records import check_payload, dumps, event_message
from mloop.automation.schemas import Job, Target, TriggerEvent
from mloop.core.errors import ValidationError
from mloop.store.context import Context

MAX_REASON = 2000


def trigger_events(
    ctx: Context,
    *,
    trigger: str | None = None,
    policy: str | None = None,
    job_id: int | None = None,
    outcome: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[TriggerEvent]:
    """Trigger events after ``after_id``, oldest first: of one trigger, of the triggers of one
    deployment policy, or the firing that queued one job (what a timeline reads)."""
    e = t.automation_trigger_events.c
    query = select(t.automation_trigger_events).where(e.id > after_id)
    if trigger is not None:
        query = query.where(e.trigger_name == trigger)
    if policy is not None:
        query = query.where(e.policy == policy)
    if job_id is not None:
        query = query.where(e.job_id == job_id)
    if outcome is not None:
        query = query.where(e.outcome == outcome)
    rows = ctx.conn.execute(query.order_by(e.id).limit(limit))
    return [event_message(r) for r in rows]


def record_event(
    ctx: Context,
    row: Any,
    *,
    source: str,
    outcome: str,
    reason: str,
    payload: dict[str, Any],
    now: int,
    job_id: int | None = None,
) -> TriggerEvent:
    """Append one event of the trigger ``row`` in the caller's transaction."""
    event_id = ctx.conn.execute(
        insert(t.automation_trigger_events)
        .values(
            trigger_name=row.name,
            trigger_kind=row.kind,
            policy=row.policy,
            source=source,
            outcome=outcome,
            reason=reason[:MAX_REASON],
            job_id=job_id,
            payload_json=dumps(payload),
            actor=ctx.actor,
            created_at=now,
        )
        .returning(t.automation_trigger_events.c.id)
    ).scalar_one()
    found = ctx.conn.execute(
        select(t.automation_trigger_events).where(t.automation_trigger_events.c.id == event_id)
    ).one()
    return event_message(found)


def _active(ctx: Context, name: str) -> dict[str, list[int]]:
    """The trigger's queued and running jobs, by status."""
    j = t.automation_jobs.c
    found: dict[str, list[int]] = {"queued": [], "running": []}
    rows = ctx.conn.execute(
        select(j.id, j.status)
        .where(j.trigger_name == name, j.status.in_(("queued", "running")))
        .order_by(j.id)
    )
    for job_id, status in rows:
        found[status].append(job_id)
    return found


def _held_back(row: Any, active: dict[str, list[int]]) -> str | None:
    """Why the concurrency policy holds a firing back, or None."""
    if row.concurrency == "parallel":
        return None
    if active["queued"]:
        return f"job {active['queued'][0]} of this trigger is already queued"
    if row.concurrency == "skip" and active["running"]:
        return f"job {active['running'][0]} of this trigger is running (concurrency skip)"
    return None


def job_for(row: Any, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The job kind and payload a firing of the trigger ``row`` queues."""
    target = Target.model_validate(json.loads(row.target_json))
    if target.policy is not None:
        return "policy", {"policy": target.policy, "trigger": row.name, "event": payload}
    params = dict(target.params)
    override = payload.get("params", {})
    if not isinstance(override, dict):
        raise ValidationError("payload.params must be a JSON object", field="payload.params")
    params.update(override)
    return "pipeline", {
        "pipeline": target.pipeline,
        "params": params,
        "executor": target.executor or "local",
        "trigger": row.name,
        "event": payload,
    }


def fire(
    ctx: Context, row: Any, *, source: str, payload: dict[str, Any], now: int
) -> tuple[TriggerEvent, Job | None]:
    """Fire the trigger ``row`` (read under its row lock) once; the event and the job queued.

    Only the checks below decide; the caller has already decided the trigger should fire.
    """
    check_payload(payload, "payload")
    # Built first so that a bad payload is refused whatever the checks below decide.
    kind, job_payload = job_for(row, payload)
    if not row.enabled:
        reason = "the trigger is disabled"
        return record_event(
            ctx, row, source=source, outcome="skipped", reason=reason, payload=payload, now=now
        ), None
    window_ms = row.dedup_window_s * 1000
    if window_ms and row.last_fired_at is not None and now < row.last_fired_at + window_ms:
        reason = (
            f"within the {row.dedup_window_s} s de-duplication window after the firing at "
            f"{row.last_fired_at} ms"
        )
        return record_event(
            ctx, row, source=source, outcome="deduplicated", reason=reason, payload=payload, now=now
        ), None
    held = _held_back(row, _active(ctx, row.name))
    if held is not None:
        return record_event(
            ctx, row, source=source, outcome="skipped", reason=held, payload=payload, now=now
        ), None
    job = enqueue_job(
        ctx,
        kind,
        job_payload,
        # One trigger's jobs never run side by side unless it allows it.
        concurrency_key=None if row.concurrency == "parallel" else f"trigger:{row.name}",
        trigger=row.name,
    )
    assert job is not None  # no dedup_key, so never deduplicated by the queue
    ctx.conn.execute(
        update(t.automation_triggers)
        .where(t.automation_triggers.c.id == row.id)
        .values(last_fired_at=now)
    )
    reason = f"{source}: queued {kind} job {job.id}"
    event = record_event(
        ctx,
        row,
        source=source,
        outcome="fired",
        reason=reason,
        payload=payload,
        now=now,
        job_id=job.id,
    )
    return event, job


def fired_counts(ctx: Context, since: int) -> dict[str, dict[str, int]]:
    """Per trigger, its events since ``since`` by outcome (for the UI's trigger table)."""
    e = t.automation_trigger_events.c
    found: dict[str, dict[str, int]] = {}
    rows = ctx.conn.execute(
        select(e.trigger_name, e.outcome, func.count())
        .where(e.created_at >= since)
        .group_by(e.trigger_name, e.outcome)
    )
    for name, outcome, n in rows:
        found.setdefault(name, {})[outcome] = int(n)
    return found
