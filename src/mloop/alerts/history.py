"""Alert history: listing with filters, one alert with its events, and the two changes a
person makes, acknowledge ("I am on it") and resolve ("it is over"), each an audited event.

Acknowledging or resolving needs the writer role: it records who, when and a note, and
stops nothing that was deployed. An acknowledged alert still folds in later breaches and
still auto-resolves; a resolved one is final (the next breach after the cool-down opens a
new alert).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, update

from mloop.alerts import tables as t
from mloop.alerts.events import events_since, lock_timeline, record_event
from mloop.alerts.ops import operations
from mloop.alerts.schemas import (
    Alert,
    AlertDetail,
    AlertId,
    AlertList,
    ChangeAlert,
    ListAlerts,
)
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name, decode_page_token, encode_page_token
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.store.context import Context

MAX_EVENTS_SHOWN = 500
LIVE = ("open", "acknowledged")


def alert_message(row: Any) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule=row.rule,
        source=row.source,
        metric=row.metric,
        subject=json.loads(row.subject_json),
        severity=row.severity,
        status=row.status,
        kind=row.kind,
        operator=row.operator,
        threshold=row.threshold,
        value=row.value,
        reference=row.reference,
        message=row.message,
        window_start=row.window_start,
        window_end=row.window_end,
        last_window_end=row.last_window_end,
        links=json.loads(row.links_json),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        count=row.count,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


def _subject_filter(raw: str) -> Any:
    """``key=value`` as a condition on the stored canonical subject JSON."""
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise ValidationError(
            "subject must look like key=value, e.g. endpoint=churn", field="subject"
        )
    check_text(raw, "subject", max_length=400)
    # The subject is stored as sorted JSON with ", " and ": " separators; this fragment is
    # exactly how one pair is written there.
    fragment = json.dumps({key: value})[1:-1]
    return t.alerts.c.subject_json.contains(fragment, autoescape=True)


def load_alert_row(ctx: Context, alert_id: int, *, lock: bool = False) -> Any:
    query = select(t.alerts).where(t.alerts.c.id == alert_id)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"alert {alert_id} does not exist", field="id")
    return row


def query_alerts(ctx: Context, req: ListAlerts, *, offset: int = 0) -> list[Alert]:
    """Alerts matching ``req``'s filters, newest first, ``max_results + 1`` at most (one
    more tells that another page exists)."""
    a = t.alerts.c
    query = select(t.alerts)
    if req.status is not None:
        query = query.where(a.status == req.status)
    if req.severity is not None:
        query = query.where(a.severity == req.severity)
    if req.source is not None:
        query = query.where(a.source == check_text(req.source, "source", max_length=128))
    if req.rule is not None:
        query = query.where(a.rule == check_asset_name(req.rule, "rule", what="rule name"))
    if req.subject is not None:
        query = query.where(_subject_filter(req.subject))
    if req.since is not None:
        query = query.where(a.first_seen >= req.since)
    if req.until is not None:
        query = query.where(a.first_seen < req.until)
    query = query.order_by(a.id.desc()).limit(req.max_results + 1).offset(offset)
    return [alert_message(r) for r in ctx.conn.execute(query)]


@operations.get("/list", ListAlerts, AlertList)
def list_alerts(ctx: Context, req: ListAlerts) -> AlertList:
    """Alerts, newest first, filtered by status, severity, source, rule, subject or time."""
    offset = decode_page_token(req.page_token)
    found = query_alerts(ctx, req, offset=offset)
    more = len(found) > req.max_results
    return AlertList(
        alerts=found[: req.max_results],
        next_page_token=encode_page_token(offset + req.max_results) if more else None,
    )


@operations.get("/get", AlertId, AlertDetail, quick=True)
def get_alert(ctx: Context, req: AlertId) -> AlertDetail:
    """One alert and its audited events, oldest first."""
    row = load_alert_row(ctx, req.id)
    return AlertDetail(
        alert=alert_message(row),
        events=events_since(ctx, 0, alert_id=row.id, limit=MAX_EVENTS_SHOWN),
    )


def count_open(ctx: Context) -> dict[str, int]:
    """Open or acknowledged alerts by severity."""
    a = t.alerts.c
    rows = ctx.conn.execute(
        select(a.severity, func.count()).where(a.status.in_(LIVE)).group_by(a.severity)
    )
    return {severity: int(n) for severity, n in rows}


@operations.post("/acknowledge", ChangeAlert, Alert, role="writer", quick=True)
def acknowledge_alert(ctx: Context, req: ChangeAlert) -> Alert:
    """Acknowledge an open alert (someone is on it); acknowledging it again changes nothing."""
    lock_timeline(ctx)
    row = load_alert_row(ctx, req.id, lock=True)
    if row.status == "resolved":
        raise ConflictError(
            f"alert {row.id} was resolved by {row.resolved_by}; nothing to acknowledge",
            field="id",
        )
    if row.status == "acknowledged":
        return alert_message(row)
    now = now_ms()
    ctx.conn.execute(
        update(t.alerts)
        .where(t.alerts.c.id == row.id)
        .values(status="acknowledged", acknowledged_by=ctx.actor, acknowledged_at=now)
    )
    record_event(ctx, row.id, "acknowledged", note=req.note, at=now)
    return alert_message(load_alert_row(ctx, row.id))


@operations.post("/resolve", ChangeAlert, Alert, role="writer", quick=True)
def resolve_alert(ctx: Context, req: ChangeAlert) -> Alert:
    """Resolve an open or acknowledged alert; its channels hear of it."""
    lock_timeline(ctx)
    row = load_alert_row(ctx, req.id, lock=True)
    if row.status == "resolved":
        raise ConflictError(
            f"alert {row.id} is already resolved (by {row.resolved_by})", field="id"
        )
    return resolve_row(ctx, row, note=req.note, actor=ctx.actor)


def resolve_row(
    ctx: Context,
    row: Any,
    *,
    note: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    at: int | None = None,
) -> Alert:
    """Resolve the locked alert ``row`` (at ``at``, default now): the event, and the
    deliveries to its rule's channels that want resolutions."""
    from mloop.alerts.delivery import enqueue

    now = now_ms() if at is None else at
    ctx.conn.execute(
        update(t.alerts)
        .where(t.alerts.c.id == row.id)
        .values(status="resolved", resolved_by=actor, resolved_at=now)
    )
    event_id = record_event(ctx, row.id, "resolved", note=note, actor=actor, detail=detail, at=now)
    enqueue(ctx, row.id, event_id, _rule_channels(ctx, row.rule_id), "resolved", now=now)
    return alert_message(load_alert_row(ctx, row.id))


def _rule_channels(ctx: Context, rule_id: int) -> list[str]:
    found = ctx.conn.execute(
        select(t.alert_rules.c.channels_json).where(t.alert_rules.c.id == rule_id)
    ).scalar_one_or_none()
    return list(json.loads(found)) if found else []


def open_alerts(
    ctx: Context, *, source: str | None = None, metric: str | None = None, limit: int = 100
) -> list[Alert]:
    """Open or acknowledged alerts, newest first, of a source and metric when given (the
    gateway page's spend banner asks for ``gateway.spend.spike_ratio``)."""
    a = t.alerts.c
    query = select(t.alerts).where(a.status.in_(LIVE))
    if source is not None:
        query = query.where(a.source == source)
    if metric is not None:
        query = query.where(a.metric == metric)
    return [alert_message(r) for r in ctx.conn.execute(query.order_by(a.id.desc()).limit(limit))]


def timeline_counts(
    ctx: Context, since: int, until: int, bucket: int
) -> dict[tuple[int, str], int]:
    """Alerts first seen in ``[since, until)``, counted per bucket of ``bucket`` ms (0 is the
    bucket starting at ``since``) and severity: the alerts page's timeline."""
    if bucket <= 0 or until < since:
        raise ValidationError(
            "the timeline needs since <= until and a positive bucket", field="bucket"
        )
    a = t.alerts.c
    index = ((a.first_seen - since) // bucket).label("bucket")
    rows = ctx.conn.execute(
        select(index, a.severity, func.count())
        .where(a.first_seen >= since, a.first_seen < until)
        .group_by(index, a.severity)
    )
    return {(int(i), severity): int(n) for i, severity, n in rows}
