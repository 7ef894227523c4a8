"""Alert rules: created, replaced and deleted by admins (they decide who gets woken up),
read by anyone.

A rule names the channels it notifies; each must exist when the rule is written. Deleting a
rule keeps its alerts and their history (they carry the rule's name).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from mloop.alerts import tables as t
from mloop.alerts.ops import operations
from mloop.alerts.schemas import AlertRule, RuleList, RuleName, RuleSpec
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.store.context import Context


def check_rule_name(value: object, field: str = "name") -> str:
    return check_asset_name(value, field, what="rule name")


def _check_spec(ctx: Context, spec: RuleSpec) -> dict[str, Any]:
    """The row values of ``spec``, after the checks the message types leave to the handler:
    names, and channels that exist."""
    check_rule_name(spec.name)
    check_text(spec.description, "description", max_length=2000)
    for i, channel in enumerate(spec.channels):
        check_asset_name(channel, f"channels[{i}]", what="channel name")
    if len(set(spec.channels)) != len(spec.channels):
        raise ValidationError("channels must not name a channel twice", field="channels")
    if spec.channels:
        c = t.alert_channels.c
        found = set(ctx.conn.execute(select(c.name).where(c.name.in_(spec.channels))).scalars())
        missing = [name for name in spec.channels if name not in found]
        if missing:
            raise NotFoundError(
                f"channel {missing[0]!r} does not exist: create it first with "
                f"`mloop alerts channels add {missing[0]} ...`",
                field="channels",
            )
    return {
        "name": spec.name,
        "source": spec.source,
        "metric": spec.metric,
        "subject_json": json.dumps(spec.subject, sort_keys=True),
        "kind": spec.kind,
        "operator": spec.operator,
        "threshold": spec.threshold,
        "consecutive": spec.consecutive,
        "severity": spec.severity,
        "cooldown_seconds": spec.cooldown_seconds,
        "auto_resolve": spec.auto_resolve,
        "channels_json": json.dumps(spec.channels),
        "enabled": spec.enabled,
        "description": spec.description,
    }


def rule_message(row: Any) -> AlertRule:
    return AlertRule(
        id=row.id,
        name=row.name,
        source=row.source,
        metric=row.metric,
        subject=json.loads(row.subject_json),
        kind=row.kind,
        operator=row.operator,
        threshold=row.threshold,
        consecutive=row.consecutive,
        severity=row.severity,
        cooldown_seconds=row.cooldown_seconds,
        auto_resolve=bool(row.auto_resolve),
        channels=json.loads(row.channels_json),
        enabled=bool(row.enabled),
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _load_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    check_rule_name(name)
    query = select(t.alert_rules).where(t.alert_rules.c.name == name)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"alert rule {name!r} does not exist", field="name")
    return row


def _same_name_in_any_case(ctx: Context, name: str) -> str | None:
    c = t.alert_rules.c
    return ctx.conn.execute(
        select(c.name).where(func.lower(c.name) == name.lower())
    ).scalar_one_or_none()


@operations.post("/rules/create", RuleSpec, AlertRule, role="admin", quick=True)
def create_alert_rule(ctx: Context, req: RuleSpec) -> AlertRule:
    """Create an alert rule."""
    values = _check_spec(ctx, req)
    existing = _same_name_in_any_case(ctx, req.name)
    if existing is not None:
        raise ConflictError(
            f"alert rule {existing!r} already exists; change it with update or pick another name",
            field="name",
        )
    now = now_ms()
    ctx.conn.execute(
        insert(t.alert_rules).values(**values, created_by=ctx.actor, created_at=now, updated_at=now)
    )
    return rule_message(_load_row(ctx, req.name))


@operations.post("/rules/update", RuleSpec, AlertRule, role="admin", quick=True)
def update_alert_rule(ctx: Context, req: RuleSpec) -> AlertRule:
    """Replace a rule's settings (its open alerts stay open; the next window uses the new
    settings)."""
    row = _load_row(ctx, req.name, lock=True)
    values = _check_spec(ctx, req)
    ctx.conn.execute(
        update(t.alert_rules)
        .where(t.alert_rules.c.id == row.id)
        .values(**values, updated_at=now_ms())
    )
    # Breach streaks counted under the old settings do not carry over to the new ones.
    ctx.conn.execute(delete(t.alert_series).where(t.alert_series.c.rule_id == row.id))
    return rule_message(_load_row(ctx, req.name))


@operations.post("/rules/delete", RuleName, Empty, role="admin", quick=True)
def delete_alert_rule(ctx: Context, req: RuleName) -> Empty:
    """Delete a rule; its alerts and their history are kept."""
    row = _load_row(ctx, req.name, lock=True)
    ctx.conn.execute(delete(t.alert_series).where(t.alert_series.c.rule_id == row.id))
    ctx.conn.execute(delete(t.alert_rules).where(t.alert_rules.c.id == row.id))
    return Empty()


@operations.get("/rules/get", RuleName, AlertRule, quick=True)
def get_alert_rule(ctx: Context, req: RuleName) -> AlertRule:
    """One alert rule."""
    return rule_message(_load_row(ctx, req.name))


@operations.get("/rules/list", Empty, RuleList, quick=True)
def list_alert_rules(ctx: Context, req: Empty) -> RuleList:
    """Every alert rule, by name."""
    rows = ctx.conn.execute(select(t.alert_rules).order_by(t.alert_rules.c.name))
    return RuleList(rules=[rule_message(r) for r in rows])


def enabled_rules(ctx: Context) -> list[AlertRule]:
    """The enabled rules, by id (what an evaluation checks)."""
    rows = ctx.conn.execute(
        select(t.alert_rules).where(t.alert_rules.c.enabled.is_(True)).order_by(t.alert_rules.c.id)
    )
    return [rule_message(r) for r in rows]
