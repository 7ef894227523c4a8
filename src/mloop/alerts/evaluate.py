"""Evaluating rules on one window's metrics: the call monitors (and the gateway's spend
check) make, in their own transaction.

For each enabled rule whose source and subject match, each metric its pattern matches is a
*series* (rule, subject, metric) with a streak of breaching windows:

- windows are told apart by ``window_start``: a later start is the next window, the same
  start evaluates that window again (replacing its verdict, so re-running a monitor does not
  count a window twice), an earlier start is a backfill, judged on its own (it raises only
  for rules that need one window, and leaves the streak alone);
- when the streak reaches the rule's ``consecutive``, an alert opens, unless one is already
  open or acknowledged for the series (then that one is updated: last seen, count, value) or
  the last one resolved within the rule's cool-down;
- a window that no longer breaches resets the streak and, with ``auto_resolve``, resolves
  the open alert; a window without a value (or a change rule without a reference) changes
  nothing.

Opening and resolving record an event on the timeline and queue one delivery per channel
of the rule; the channels are sent to by the dispatcher, off the caller's path.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from sqlalchemy import insert, select, update

from mloop.alerts import tables as t
from mloop.alerts.delivery import enqueue
from mloop.alerts.events import lock_timeline, record_event
from mloop.alerts.history import LIVE, alert_message, load_alert_row, resolve_row
from mloop.alerts.matching import Check, check, matches, subject_key, subject_matches
from mloop.alerts.ops import operations
from mloop.alerts.rules import enabled_rules
from mloop.alerts.schemas import Alert, AlertRule, Evaluate, Evaluation
from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.core.validation import from_pydantic
from mloop.store.context import Context
from mloop.store.sql import insert_ignore

RESOLVER = "mloop"
"""Who the timeline says resolved an alert whose window stopped breaching."""


@dataclass(frozen=True)
class _Window:
    source: str
    start: int
    end: int
    subject: dict[str, str]
    subject_key: str
    links: dict[str, str]
    now: int


def evaluate_rules(
    ctx: Context,
    source: str,
    metrics: Mapping[str, float | None],
    *,
    window_start: int,
    window_end: int,
    subject: Mapping[str, str] | None = None,
    reference: Mapping[str, float | None] | None = None,
    links: Mapping[str, str] | None = None,
    now: int | None = None,
) -> list[Alert]:
    """Evaluate every enabled rule on one window's ``metrics`` from ``source``.

    Returns the alerts this window opened or updated (an open alert it breached again),
    oldest first. Checked like the ``evaluate_alerts`` operation's request; raises
    :class:`~mloop.core.errors.ValidationError` naming the field.
    """
    try:
        req = Evaluate.model_validate(
            {
                "source": source,
                "metrics": _numbers(metrics),
                "window_start": window_start,
                "window_end": window_end,
                "subject": dict(subject or {}),
                "reference": None if reference is None else _numbers(reference),
                "links": None if links is None else dict(links),
            }
        )
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None
    return _evaluate(ctx, req, now_ms() if now is None else now)


def _numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with numpy scalars (float32, int64...) as Python floats; anything else is
    left for the message check to refuse with its field."""
    return {
        key: float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else v
        for key, v in values.items()
    }


@operations.post("/evaluate", Evaluate, Evaluation, role="writer")
def evaluate_alerts(ctx: Context, req: Evaluate) -> Evaluation:
    """Evaluate the enabled rules on one window's metrics; the alerts it raised or updated."""
    return Evaluation(alerts=_evaluate(ctx, req, now_ms()))


def _evaluate(ctx: Context, req: Evaluate, now: int) -> list[Alert]:
    for name in ("window_start", "window_end"):
        if getattr(req, name) < 0:
            raise ValidationError(
                f"{name} must be a time in ms since the epoch, not {getattr(req, name)}",
                field=name,
            )
    if req.window_end < req.window_start:
        raise ValidationError(
            f"window_end ({req.window_end}) is before window_start ({req.window_start})",
            field="window_end",
        )
    window = _Window(
        source=req.source,
        start=req.window_start,
        end=req.window_end,
        subject=dict(req.subject),
        subject_key=subject_key(req.subject),
        links=dict(req.links or {}),
        now=now,
    )
    reference = req.reference or {}
    rules = [
        r
        for r in enabled_rules(ctx)
        if matches(r.source, req.source) and subject_matches(r.subject, req.subject)
    ]
    if not rules:
        return []
    # Before any row lock: every writer of the timeline takes locks in this order.
    lock_timeline(ctx)
    touched: list[Alert] = []
    for rule in rules:
        for metric in sorted(m for m in req.metrics if matches(rule.metric, m)):
            result = check(rule, metric, req.metrics[metric], reference.get(metric))
            alert = _apply(ctx, rule, metric, result, window)
            if alert is not None:
                touched.append(alert)
    return sorted(touched, key=lambda a: a.id)


def _series(ctx: Context, rule: AlertRule, metric: str, window: _Window) -> Any:
    """The series' state row, created if new, locked until the transaction ends."""
    s = t.alert_series
    insert_ignore(
        ctx.conn,
        s,
        {
            "rule_id": rule.id,
            "subject_key": window.subject_key,
            "metric": metric,
            "streak": 0,
            "prior_streak": 0,
            "last_window_start": -1,
            "updated_at": window.now,
        },
    )
    return ctx.conn.execute(
        select(s)
        .where(
            s.c.rule_id == rule.id,
            s.c.subject_key == window.subject_key,
            s.c.metric == metric,
        )
        .with_for_update()
    ).one()


def _streak(ctx: Context, state: Any, breached: bool | None, window: _Window) -> int:
    """The series' streak after this window (and the row updated unless it is a backfill)."""
    if window.start < state.last_window_start:  # a backfill: judged on its own
        return 1 if breached else 0
    prior = state.prior_streak if window.start == state.last_window_start else state.streak
    # A window with nothing to say leaves the streak as it was before it.
    streak = prior if breached is None else (prior + 1 if breached else 0)
    s = t.alert_series
    ctx.conn.execute(
        update(s)
        .where(
            s.c.rule_id == state.rule_id,
            s.c.subject_key == state.subject_key,
            s.c.metric == state.metric,
        )
        .values(
            streak=streak,
            prior_streak=prior,
            last_window_start=window.start,
            updated_at=window.now,
        )
    )
    return streak


def _live_alert(ctx: Context, rule_id: int, key: str, metric: str) -> Any:
    a = t.alerts.c
    return ctx.conn.execute(
        select(t.alerts)
        .where(a.rule_id == rule_id, a.subject_key == key, a.metric == metric)
        .order_by(a.id.desc())
        .limit(1)
    ).first()


def _apply(
    ctx: Context, rule: AlertRule, metric: str, result: Check, window: _Window
) -> Alert | None:
    state = _series(ctx, rule, metric, window)
    streak = _streak(ctx, state, result.breached, window)
    latest = _live_alert(ctx, rule.id, window.subject_key, metric)
    live = latest if latest is not None and latest.status in LIVE else None
    if result.breached is None:
        return None
    if not result.breached:
        newer = window.start >= state.last_window_start
        if live is not None and rule.auto_resolve and newer:
            resolve_row(
                ctx,
                load_alert_row(ctx, live.id, lock=True),
                note=f"the window from {window.start} no longer breaches: {result.message}",
                actor=RESOLVER,
                detail={"value": _finite(result.value), "window_start": window.start},
                at=window.now,
            )
        return None
    if streak < rule.consecutive:
        return None
    if live is not None:
        return _repeat(ctx, live, result, window)
    resolved_at = latest.resolved_at if latest is not None else None
    if resolved_at is not None and window.now < resolved_at + rule.cooldown_seconds * 1000:
        return None  # cooling down after the last resolution
    return _open(ctx, rule, metric, result, window, streak)


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _text(result: Check, rule: AlertRule, streak: int) -> str:
    if rule.consecutive > 1:
        return f"{result.message}, {streak} windows in a row"
    return result.message


def _repeat(ctx: Context, live: Any, result: Check, window: _Window) -> Alert:
    """Fold another breach into the open alert: no new alert, no new notification."""
    values: dict[str, Any] = {"last_seen": window.now, "count": live.count + 1}
    if window.end >= live.last_window_end:
        values.update(
            value=result.value,
            reference=result.reference,
            last_window_end=window.end,
            message=result.message,
        )
    ctx.conn.execute(update(t.alerts).where(t.alerts.c.id == live.id).values(**values))
    return alert_message(load_alert_row(ctx, live.id))


def _open(
    ctx: Context, rule: AlertRule, metric: str, result: Check, window: _Window, streak: int
) -> Alert:
    message = _text(result, rule, streak)
    alert_id = ctx.conn.execute(
        insert(t.alerts)
        .values(
            rule_id=rule.id,
            rule=rule.name,
            source=window.source,
            metric=metric,
            subject_key=window.subject_key,
            subject_json=json.dumps(window.subject, sort_keys=True),
            severity=rule.severity,
            status="open",
            kind=rule.kind,
            operator=rule.operator,
            threshold=rule.threshold,
            value=result.value,
            reference=result.reference,
            message=message,
            window_start=window.start,
            window_end=window.end,
            last_window_end=window.end,
            links_json=json.dumps(window.links, sort_keys=True),
            first_seen=window.now,
            last_seen=window.now,
            count=1,
        )
        .returning(t.alerts.c.id)
    ).scalar_one()
    event_id = record_event(
        ctx,
        alert_id,
        "raised",
        note=message,
        detail={
            "rule": rule.name,
            "severity": rule.severity,
            "metric": metric,
            "subject": window.subject,
            "value": _finite(result.value),
            "window_start": window.start,
            "window_end": window.end,
        },
        at=window.now,
    )
    enqueue(ctx, alert_id, event_id, rule.channels, "raised", now=window.now)
    return alert_message(load_alert_row(ctx, alert_id))
