"""Rows to messages, and the JSON the automation tables keep."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from mloop.automation import tables as t
from mloop.automation.schemas import (
    MAX_PAYLOAD_BYTES,
    Job,
    JobAttempt,
    Target,
    Trigger,
    TriggerEvent,
)
from mloop.core.errors import NotFoundError, ValidationError
from mloop.store.context import Context


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def check_payload(payload: Any, field: str) -> str:
    """``payload`` as stored JSON; a clear error when it is not a JSON object or too big."""
    if not isinstance(payload, dict):
        raise ValidationError(f"{field} must be a JSON object", field=field)
    try:
        raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} is not JSON: {exc}", field=field) from None
    if len(raw.encode()) > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"{field} is over {MAX_PAYLOAD_BYTES // 1024} KiB as JSON; pass a reference "
            "(a dataset version, an artifact) instead of the data",
            field=field,
        )
    return raw


def job_message(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        payload=json.loads(row.payload_json),
        status=row.status,
        dedup_key=row.dedup_key,
        concurrency_key=row.concurrency_key,
        attempts=row.attempts,
        claims=row.claims,
        max_attempts=row.max_attempts,
        run_after=row.run_after,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        state=json.loads(row.state_json),
        result=None if row.result_json is None else json.loads(row.result_json),
        error=row.error,
        trigger=row.trigger_name,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def attempt_message(row: Any) -> JobAttempt:
    return JobAttempt(
        attempt=row.attempt,
        worker=row.worker,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        error=row.error,
    )


def trigger_message(row: Any) -> Trigger:
    return Trigger(
        name=row.name,
        kind=row.kind,
        config=json.loads(row.config_json),
        target=Target.model_validate(json.loads(row.target_json)),
        enabled=row.enabled,
        dedup_window_s=row.dedup_window_s,
        concurrency=row.concurrency,
        cursor=json.loads(row.cursor_json),
        next_check_at=row.next_check_at,
        last_fired_at=row.last_fired_at,
        has_secret=row.secret_sha256 is not None,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def event_message(row: Any) -> TriggerEvent:
    return TriggerEvent(
        id=row.id,
        trigger=row.trigger_name,
        trigger_kind=row.trigger_kind,
        policy=row.policy,
        source=row.source,
        outcome=row.outcome,
        reason=row.reason,
        job_id=row.job_id,
        payload=json.loads(row.payload_json),
        actor=row.actor,
        created_at=row.created_at,
    )


def load_job_row(ctx: Context, job_id: int, *, lock: bool = False) -> Any:
    query = select(t.automation_jobs).where(t.automation_jobs.c.id == job_id)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"job {job_id} does not exist", field="id")
    return row


def load_trigger_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    query = select(t.automation_triggers).where(t.automation_triggers.c.name == name)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"trigger {name!r} does not exist", field="name")
    return row
