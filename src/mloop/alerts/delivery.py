"""The delivery outbox: alerts reach their channels off the caller's path, every attempt is
recorded, and a failure stays visible.

Raising or resolving an alert writes one ``alert_deliveries`` row per channel in the same
transaction (so an alert rolled back is never sent, and one committed is never lost). A
dispatcher (:class:`AlertDispatcher`, a background thread of the server; or
:func:`deliver_due` from a script or ``mloop alerts deliver``) claims the rows that are due,
sends each once and records the attempt (time, outcome, HTTP status, error). A failure is
retried after ``backoff_s``, doubled after each further failure (at most an hour), until the
channel's ``max_attempts``; then the row is ``failed``, with the last error, and a warning is
logged. A claim lapses if its process dies mid-send, so another replica takes the row over;
each claim is a compare-and-set, so no two replicas send the same attempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from mloop.alerts import tables as t
from mloop.alerts.ops import operations
from mloop.alerts.schemas import (
    Attempt,
    Delivery,
    DeliveryEvent,
    DeliveryList,
    ListDeliveries,
)
from mloop.core.naming import check_asset_name
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.store.context import Context

log = logging.getLogger("mloop.alerts")

MAX_BACKOFF_MS = 3600 * 1000
CLAIM_MARGIN_MS = 60_000  # beyond the channel's timeout, before another replica takes over
BATCH = 50


def delivery_message(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        alert_id=row.alert_id,
        event_id=row.event_id,
        channel=row.channel,
        channel_kind=row.channel_kind,
        event=row.event,
        status=row.status,
        attempts=[Attempt(**a) for a in json.loads(row.attempts_json)],
        max_attempts=row.max_attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
    )


def _insert(
    ctx: Context,
    *,
    alert_id: int | None,
    event_id: int | None,
    channel: str,
    kind: str,
    event: DeliveryEvent,
    max_attempts: int,
    now: int,
    status: str = "pending",
    error: str = "",
) -> int:
    result = ctx.conn.execute(
        insert(t.alert_deliveries)
        .values(
            alert_id=alert_id,
            event_id=event_id,
            channel=channel,
            channel_kind=kind,
            event=event,
            status=status,
            attempts=0,
            max_attempts=max_attempts,
            attempts_json="[]",
            last_error=error,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .returning(t.alert_deliveries.c.id)
    )
    return int(result.scalar_one())


def enqueue(
    ctx: Context,
    alert_id: int,
    event_id: int,
    channels: Sequence[str],
    event: DeliveryEvent,
    *,
    now: int,
) -> list[int]:
    """Queue ``event`` of an alert to each of ``channels`` (in the caller's transaction).

    A disabled channel is skipped, and so is a resolution for a channel that wants only new
    alerts. A channel that no longer exists gets a ``failed`` row saying so: never silent.
    """
    from mloop.alerts.channels import parse_config

    if not channels:
        return []
    c = t.alert_channels.c
    rows = {
        r.name: r for r in ctx.conn.execute(select(t.alert_channels).where(c.name.in_(channels)))
    }
    queued = []
    for name in channels:
        row = rows.get(name)
        if row is None:
            queued.append(
                _insert(
                    ctx,
                    alert_id=alert_id,
                    event_id=event_id,
                    channel=name,
                    kind="log",
                    event=event,
                    max_attempts=0,
                    now=now,
                    status="failed",
                    error=f"channel {name!r} does not exist any more",
                )
            )
            continue
        if not row.enabled or (event == "resolved" and not row.on_resolve):
            continue
        config = parse_config(row.config_json)
        queued.append(
            _insert(
                ctx,
                alert_id=alert_id,
                event_id=event_id,
                channel=name,
                kind=row.kind,
                event=event,
                max_attempts=getattr(config, "max_attempts", 1),
                now=now,
            )
        )
    return queued


def enqueue_test(ctx: Context, channel_row: Any, *, now: int) -> Any:
    """Queue one test message to a channel (a single attempt, enabled or not)."""
    delivery_id = _insert(
        ctx,
        alert_id=None,
        event_id=None,
        channel=channel_row.name,
        kind=channel_row.kind,
        event="test",
        max_attempts=1,
        now=now,
    )
    return _load(ctx, delivery_id)


def _load(ctx: Context, delivery_id: int) -> Any:
    return ctx.conn.execute(
        select(t.alert_deliveries).where(t.alert_deliveries.c.id == delivery_id)
    ).one()


@operations.get("/deliveries", ListDeliveries, DeliveryList)
def list_alert_deliveries(ctx: Context, req: ListDeliveries) -> DeliveryList:
    """Deliveries to channels, newest first, with every attempt's outcome."""
    d = t.alert_deliveries.c
    query = select(t.alert_deliveries)
    if req.alert_id is not None:
        query = query.where(d.alert_id == req.alert_id)
    if req.channel is not None:
        query = query.where(d.channel == check_asset_name(req.channel, "channel"))
    if req.status is not None:
        query = query.where(d.status == req.status)
    rows = ctx.conn.execute(query.order_by(d.id.desc()).limit(req.max_results))
    return DeliveryList(deliveries=[delivery_message(r) for r in rows])


# -- sending ------------------------------------------------------------------------------


def backoff_ms(backoff_s: float, attempts: int) -> int:
    """The wait after the ``attempts``-th failure: ``backoff_s``, doubled each time, at most
    an hour."""
    return int(min(backoff_s * 1000 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS))


def _due(ctx: Context, now: int, limit: int) -> list[Any]:
    d = t.alert_deliveries.c
    return list(
        ctx.conn.execute(
            select(d.id, d.status, d.next_attempt_at)
            .where(d.status.in_(("pending", "retrying", "sending")), d.next_attempt_at <= now)
            .order_by(d.id)
            .limit(limit)
        )
    )


def _claim(ctx: Context, seen: Any, now: int, hold_ms: int) -> bool:
    d = t.alert_deliveries.c
    claimed = ctx.conn.execute(
        update(t.alert_deliveries)
        .where(d.id == seen.id, d.status == seen.status, d.next_attempt_at == seen.next_attempt_at)
        .values(status="sending", next_attempt_at=now + hold_ms, updated_at=now)
    )
    return claimed.rowcount == 1


def _prepare(ctx: Context, delivery_id: int) -> tuple[Any, Any, Any]:
    """The delivery row, the channel's configuration (None if it is gone) and the
    notification to send."""
    from mloop.alerts.channels import parse_config
    from mloop.alerts.history import alert_message
    from mloop.alerts.payloads import Notification

    row = _load(ctx, delivery_id)
    channel = ctx.conn.execute(
        select(t.alert_channels).where(t.alert_channels.c.name == row.channel)
    ).first()
    config = parse_config(channel.config_json) if channel is not None else None
    alert = None
    links: dict[str, str] = {}
    actor, note, at = "", "", row.created_at
    if row.alert_id is not None:
        found = ctx.conn.execute(select(t.alerts).where(t.alerts.c.id == row.alert_id)).first()
        if found is not None:
            alert = alert_message(found)
            links = {"alert": f"/alerts/{alert.id}", **alert.links}
    if row.event_id is not None:
        event = ctx.conn.execute(
            select(t.alert_events).where(t.alert_events.c.id == row.event_id)
        ).first()
        if event is not None:
            actor, note, at = event.actor, event.note, event.timestamp
    notification = Notification(row.event, alert, actor, note, at, links)
    return row, config, notification


def _record(ctx: Context, row: Any, outcome: Any, *, at: int, backoff_s: float) -> Any:
    attempts = [*json.loads(row.attempts_json), _attempt(outcome, at)]
    values: dict[str, Any] = {
        "attempts": len(attempts),
        "attempts_json": json.dumps(attempts),
        "last_error": outcome.error,
        "updated_at": at,
    }
    if outcome.ok:
        values.update(status="sent", sent_at=at, next_attempt_at=at)
    elif len(attempts) >= row.max_attempts:
        values.update(status="failed", next_attempt_at=at)
        log.warning(
            "alert delivery %s to channel %s failed after %d attempts: %s",
            row.id,
            row.channel,
            len(attempts),
            outcome.error,
        )
    else:
        values.update(status="retrying", next_attempt_at=at + backoff_ms(backoff_s, len(attempts)))
    ctx.conn.execute(
        update(t.alert_deliveries).where(t.alert_deliveries.c.id == row.id).values(**values)
    )
    return _load(ctx, row.id)


def _attempt(outcome: Any, at: int) -> dict[str, Any]:
    return {
        "at": at,
        "ok": outcome.ok,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }


def _deliver_one(runtime: Any, seen: Any, at: int, finish: Callable[[], int]) -> Delivery | None:
    """Claim, send and record one due delivery; None when another process claimed it."""
    from mloop.alerts.senders import Outcome, send

    row, config, notification = runtime.run(lambda ctx: _prepare(ctx, seen.id), write=False)
    hold = int(getattr(config, "timeout_s", 5.0) * 1000) + CLAIM_MARGIN_MS
    if not runtime.run(lambda ctx: _claim(ctx, seen, at, hold), write=True):
        return None
    if config is None:
        outcome = Outcome(False, f"channel {row.channel!r} does not exist any more")
    else:
        outcome = send(config, notification)  # outside any transaction
    sent_at = finish()
    backoff = getattr(config, "backoff_s", 1.0)
    final = runtime.run(
        lambda ctx: _record(ctx, row, outcome, at=sent_at, backoff_s=backoff), write=True
    )
    return delivery_message(final)


def deliver_due(
    runtime: Any, *, now: int | None = None, limit: int = BATCH, clock: Callable[[], int] = now_ms
) -> list[Delivery]:
    """Send every delivery due at ``now`` (default: the clock) once; the deliveries as they
    stand after their attempt. Safe to run in several processes at once. With ``now``
    given, attempts are recorded at ``now`` too (tests step time by hand)."""
    at = clock() if now is None else now
    finish = clock if now is None else (lambda: at)
    due = runtime.run(lambda ctx: _due(ctx, at, limit), write=False)
    done = [_deliver_one(runtime, seen, at, finish) for seen in due]
    return [d for d in done if d is not None]


class AlertDispatcher(PeriodicTask):
    """Sends due deliveries every ``interval_s`` seconds in a background thread."""

    def __init__(self, runtime: Any, *, interval_s: float = 1.0) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-alert-deliveries")
        self.runtime = runtime

    def run_once(self) -> list[Delivery]:
        return deliver_due(self.runtime)
