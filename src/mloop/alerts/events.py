"""The audited timeline of alerts (raised, acknowledged, resolved: who, when, why) and the
durable cursor subscribers read it with.

A subscriber (the continuous-training trigger, a bridge to a pager) keeps the id of the last
event it handled and asks for the events after it (:func:`events_since`, or the
``list_alert_events`` operation with ``after_id``). Ids grow in commit order: on PostgreSQL
every transaction that writes events first takes one transaction-scoped advisory lock
(:func:`lock_timeline`), so an event with a lower id can never commit after one with a
higher id that a subscriber has already read; SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, insert, select, text

from mloop.alerts import tables as t
from mloop.alerts.ops import operations
from mloop.alerts.schemas import MAX_NOTE, AlertEvent, EventKind, EventList, ListEvents
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.store.context import Context

# Any fixed 64-bit number, unlike the migration lock's.
_TIMELINE_LOCK = 0x6D6C6F6F70A1E7


def lock_timeline(ctx: Context) -> None:
    """Serialise the writers of alert events until this transaction ends (PostgreSQL).

    Call it before taking any other lock of the alerts tables, so that two writers always
    take locks in the same order."""
    if ctx.conn.dialect.name == "postgresql":
        ctx.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TIMELINE_LOCK})


def record_event(
    ctx: Context,
    alert_id: int,
    kind: EventKind,
    *,
    note: str = "",
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
    at: int | None = None,
) -> int:
    """Append one event in the caller's transaction; its id."""
    lock_timeline(ctx)
    note = check_text(note, "note", max_length=MAX_NOTE)
    result = ctx.conn.execute(
        insert(t.alert_events)
        .values(
            alert_id=alert_id,
            kind=kind,
            actor=actor or ctx.actor,
            timestamp=now_ms() if at is None else at,
            note=note,
            detail_json=json.dumps(detail or {}, sort_keys=True, default=str),
        )
        .returning(t.alert_events.c.id)
    )
    return int(result.scalar_one())


def event_message(row: Any) -> AlertEvent:
    return AlertEvent(
        id=row.id,
        alert_id=row.alert_id,
        kind=row.kind,
        actor=row.actor,
        timestamp=row.timestamp,
        note=row.note,
        detail=json.loads(row.detail_json),
    )


def events_since(
    ctx: Context,
    after_id: int = 0,
    *,
    limit: int = 100,
    kind: EventKind | None = None,
    alert_id: int | None = None,
) -> list[AlertEvent]:
    """The events with an id above ``after_id``, oldest first, at most ``limit``."""
    e = t.alert_events.c
    query = select(t.alert_events).where(e.id > after_id)
    if kind is not None:
        query = query.where(e.kind == kind)
    if alert_id is not None:
        query = query.where(e.alert_id == alert_id)
    return [event_message(r) for r in ctx.conn.execute(query.order_by(e.id).limit(limit))]


def last_event_id(ctx: Context) -> int:
    """The id of the newest event, 0 when there is none: where a reader that wants only what
    comes next starts."""
    found = ctx.conn.execute(select(func.max(t.alert_events.c.id))).scalar()
    return int(found or 0)


@operations.get("/events", ListEvents, EventList, quick=True)
def list_alert_events(ctx: Context, req: ListEvents) -> EventList:
    """Audited alert events after ``after_id``, oldest first (a subscriber's cursor)."""
    found = events_since(
        ctx, req.after_id, limit=req.max_results, kind=req.kind, alert_id=req.alert_id
    )
    return EventList(events=found, last_id=found[-1].id if found else req.after_id)
