"""Trigger operations: create, change, read, delete, fire, rotate a webhook's secret, and
read the trigger event log."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, insert, select, update

from mloop.automation import tables as t
from mloop.automation.kinds import JOB_KINDS
from mloop.automation.ops import operations
from mloop.automation.records import dumps, load_trigger_row, trigger_message
from mloop.automation.schedules import POLLED, check_trigger, due_triggers, initial_cursor
from mloop.automation.schemas import (
    Checked,
    CheckTriggers,
    CreatedTrigger,
    Fired,
    FireTrigger,
    ListTriggerEvents,
    NewSecret,
    Target,
    Trigger,
    TriggerEventList,
    TriggerList,
    TriggerName,
    TriggerSpec,
    UpdateTrigger,
)
from mloop.automation.trigger_config import config_dict
from mloop.automation.triggers import fire, trigger_events
from mloop.core.errors import ConflictError, PermissionDeniedError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.store.context import Context


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = "whs_" + secrets.token_urlsafe(32)
    return secret, secret_digest(secret)


def _check_target(target: Target) -> Target:
    if (target.pipeline is None) == (target.policy is None):
        raise ValidationError(
            "target needs exactly one of pipeline ('package.module:function') or policy",
            field="target",
        )
    if target.pipeline is not None:
        module, _, function = target.pipeline.partition(":")
        parts = module.split(".")
        if not function.isidentifier() or not all(p.isidentifier() for p in parts):
            raise ValidationError(
                f"target.pipeline {target.pipeline!r} is not 'package.module:function'",
                field="target.pipeline",
            )
        if target.policy is None and "pipeline" not in JOB_KINDS:
            raise ValidationError("pipelines are not installed", field="target.pipeline")
    else:
        check_asset_name(target.policy, "target.policy", what="policy name")
        if target.params or target.executor is not None:
            raise ValidationError(
                "a policy target takes no params or executor (the policy names its pipeline)",
                field="target.params" if target.params else "target.executor",
            )
        if "policy" not in JOB_KINDS:
            raise ValidationError(
                "deployment policies are not installed: no job kind 'policy'",
                field="target.policy",
            )
    return target


@operations.post("/triggers/create", TriggerSpec, CreatedTrigger, quick=True)
def create_trigger(ctx: Context, req: TriggerSpec) -> CreatedTrigger:
    """Create a trigger; a webhook trigger's secret is in the answer, and only there."""
    check_asset_name(req.name, "name", what="trigger name")
    target = _check_target(req.target)
    config = config_dict(req.kind, req.config)
    tr = t.automation_triggers.c
    if ctx.conn.execute(select(tr.id).where(tr.name == req.name)).first() is not None:
        raise ConflictError(f"trigger {req.name!r} already exists", field="name")
    now = now_ms()
    cursor, next_at = {}, None
    if req.kind in POLLED:
        first = initial_cursor(ctx, req.kind, config, now)
        cursor, next_at = first.cursor, first.next_check_at
    secret, digest = _new_secret() if req.kind == "webhook" else (None, None)
    ctx.conn.execute(
        insert(t.automation_triggers).values(
            name=req.name,
            kind=req.kind,
            config_json=dumps(config),
            target_json=dumps(target.model_dump(mode="json")),
            policy=target.policy,
            enabled=req.enabled,
            dedup_window_s=req.dedup_window_s,
            concurrency=req.concurrency,
            secret_sha256=digest,
            cursor_json=dumps(cursor),
            version=0,
            next_check_at=next_at,
            created_by=ctx.actor,
            created_at=now,
            updated_at=now,
        )
    )
    return CreatedTrigger(trigger=trigger_message(load_trigger_row(ctx, req.name)), secret=secret)


@operations.post("/triggers/update", UpdateTrigger, Trigger, quick=True)
def update_trigger(ctx: Context, req: UpdateTrigger) -> Trigger:
    """Change a trigger's configuration, target, window, concurrency or whether it is on.

    A new configuration starts watching afresh from now (its cursor is reset)."""
    row = load_trigger_row(ctx, req.name, lock=True)
    now = now_ms()
    values: dict[str, Any] = {"updated_at": now, "version": row.version + 1}
    if req.config is not None:
        config = config_dict(row.kind, req.config)
        values["config_json"] = dumps(config)
        if row.kind in POLLED:
            first = initial_cursor(ctx, row.kind, config, now)
            values.update(cursor_json=dumps(first.cursor), next_check_at=first.next_check_at)
    if req.target is not None:
        target = _check_target(req.target)
        values.update(target_json=dumps(target.model_dump(mode="json")), policy=target.policy)
    if req.dedup_window_s is not None:
        values["dedup_window_s"] = req.dedup_window_s
    if req.concurrency is not None:
        values["concurrency"] = req.concurrency
    if req.enabled is not None:
        values["enabled"] = req.enabled
    ctx.conn.execute(
        update(t.automation_triggers).where(t.automation_triggers.c.id == row.id).values(**values)
    )
    return trigger_message(load_trigger_row(ctx, req.name))


@operations.post("/triggers/delete", TriggerName, Empty, role="admin", quick=True)
def delete_trigger(ctx: Context, req: TriggerName) -> Empty:
    """Delete a trigger; its events and jobs stay on record."""
    row = load_trigger_row(ctx, req.name, lock=True)
    ctx.conn.execute(delete(t.automation_triggers).where(t.automation_triggers.c.id == row.id))
    return Empty()


@operations.get("/triggers/get", TriggerName, Trigger, quick=True)
def get_trigger(ctx: Context, req: TriggerName) -> Trigger:
    """One trigger with its cursor, next check and last firing."""
    return trigger_message(load_trigger_row(ctx, req.name))


@operations.get("/triggers/list", Empty, TriggerList, quick=True)
def list_triggers(ctx: Context, req: Empty) -> TriggerList:
    """Every trigger, by name."""
    rows = ctx.conn.execute(select(t.automation_triggers).order_by(t.automation_triggers.c.name))
    return TriggerList(triggers=[trigger_message(r) for r in rows])


def fire_now(ctx: Context, name: str, payload: dict[str, Any], *, source: str) -> Fired:
    """Fire the trigger ``name`` from a person, an API call or a webhook."""
    row = load_trigger_row(ctx, name, lock=True)
    event, job = fire(ctx, row, source=source, payload=payload, now=now_ms())
    return Fired(event=event, job=job)


@operations.post("/triggers/fire", FireTrigger, Fired, quick=True)
def fire_trigger(ctx: Context, req: FireTrigger) -> Fired:
    """Fire a trigger that starts a pipeline (de-duplication and concurrency apply)."""
    row = load_trigger_row(ctx, req.name)
    if row.policy is not None:
        raise PermissionDeniedError(
            f"trigger {req.name!r} starts deployment policy {row.policy!r}: firing it moves "
            "production and needs the deployer role (fire_policy_trigger)",
            field="name",
        )
    return fire_now(ctx, req.name, req.payload, source="api")


@operations.post("/triggers/fire-policy", FireTrigger, Fired, role="deployer", quick=True)
def fire_policy_trigger(ctx: Context, req: FireTrigger) -> Fired:
    """Fire a trigger, including one that starts a deployment policy (deployer)."""
    return fire_now(ctx, req.name, req.payload, source="api")


@operations.post("/triggers/rotate-secret", TriggerName, NewSecret, role="admin", quick=True)
def rotate_trigger_secret(ctx: Context, req: TriggerName) -> NewSecret:
    """A new secret for a webhook trigger; the old one stops working at once."""
    row = load_trigger_row(ctx, req.name, lock=True)
    if row.kind != "webhook":
        raise ValidationError(
            f"trigger {req.name!r} is a {row.kind} trigger, not a webhook", field="name"
        )
    secret, digest = _new_secret()
    ctx.conn.execute(
        update(t.automation_triggers)
        .where(t.automation_triggers.c.id == row.id)
        .values(secret_sha256=digest, updated_at=now_ms())
    )
    return NewSecret(secret=secret)


@operations.get("/triggers/events", ListTriggerEvents, TriggerEventList, quick=True)
def list_trigger_events(ctx: Context, req: ListTriggerEvents) -> TriggerEventList:
    """Trigger events after ``after_id``, oldest first: fired, deduplicated or skipped, why,
    and the job queued."""
    for field in ("trigger", "policy"):
        value = getattr(req, field)
        if value is not None:
            check_asset_name(value, field, what=f"{field} name")
    found = trigger_events(
        ctx,
        trigger=req.trigger,
        policy=req.policy,
        job_id=req.job_id,
        outcome=req.outcome,
        after_id=req.after_id,
        limit=req.max_results,
    )
    return TriggerEventList(events=found, last_id=found[-1].id if found else req.after_id)


@operations.post("/triggers/check", CheckTriggers, Checked)
def check_triggers(ctx: Context, req: CheckTriggers) -> Checked:
    """Check every due trigger now, as a worker's round does; the events it left."""
    now = now_ms()
    events = []
    for name, version in due_triggers(ctx, now):
        events.extend(check_trigger(ctx, name, version, now))
    return Checked(events=events)
