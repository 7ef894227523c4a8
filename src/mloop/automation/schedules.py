"""Checking the triggers that watch something: cron schedules, monitor alerts, review labels
and dataset versions.

Each check runs in its own transaction. It first claims the trigger's cursor with one
conditional UPDATE (``version`` still what it read), so when several workers check at once
exactly one of them evaluates and fires; the others see zero rows updated and move on. The
cursor says what the trigger has seen, so nothing is counted twice: the last due time of a
schedule, the last alert event, the completion time of the last label counted, the last
dataset version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import select, update

from mloop.automation import tables as t
from mloop.automation.records import dumps, load_trigger_row
from mloop.automation.schemas import TriggerEvent
from mloop.automation.trigger_config import SEVERITIES, alert_kind, parse_config
from mloop.automation.triggers import fire, record_event
from mloop.core.errors import MloopError, NotFoundError
from mloop.store.context import Context

log = logging.getLogger(__name__)

POLLED = ("cron", "alert", "labels", "dataset")
ALERT_BATCH = 500  # alert events read per check; a check that reads a full batch comes back
MAX_ALERT_IDS = 100  # alert ids carried in one firing's payload


@dataclass
class Check:
    """What one check of a trigger found: its new cursor, when to look next, and the payload
    of the firing it asks for (None: nothing new)."""

    cursor: dict[str, Any]
    next_check_at: int
    firing: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def next_cron_time(schedule: str, after_ms: int) -> int:
    """The first time of ``schedule`` (UTC) strictly after ``after_ms``."""
    return _ms(croniter(schedule, _at(after_ms)).get_next(datetime))


def initial_cursor(ctx: Context, kind: str, config: dict[str, Any], now: int) -> Check:
    """Where a new trigger starts watching: from now on (only what happens after it exists
    counts), and when it is first checked."""
    if kind == "cron":
        return Check({"last": now}, next_cron_time(config["schedule"], now))
    if kind == "alert":
        # By event id, not time: a monitor that backfills past windows raises alerts stamped
        # with those windows' times, and they are news to a trigger created before.
        from mloop.alerts.events import last_event_id

        return Check({"after_id": last_event_id(ctx)}, now)
    if kind == "labels":
        return Check({"since": now}, now)
    if kind == "dataset":
        return Check({"version": _latest_version(ctx, config["dataset"])}, now)
    raise ValueError(f"{kind} triggers are not checked")


def _check_cron(config: Any, cursor: dict[str, Any], now: int) -> Check:
    # The latest due time at or before now: a worker that was down fires once, not once per
    # missed time.
    due = _ms(croniter(config.schedule, _at(now + 1)).get_prev(datetime))
    if due <= cursor["last"]:
        return Check(cursor, next_cron_time(config.schedule, cursor["last"]))
    return Check({"last": due}, next_cron_time(config.schedule, due), {"scheduled_at": due})


def _check_alert(ctx: Context, config: Any, cursor: dict[str, Any], now: int) -> Check:
    from mloop.alerts.events import events_since
    from mloop.alerts.history import alert_message, load_alert_row

    events = events_since(ctx, cursor["after_id"], limit=ALERT_BATCH, kind="raised")
    floor = SEVERITIES.index(config.min_severity)
    matched: list[Any] = []
    for event in events:
        alert = alert_message(load_alert_row(ctx, event.alert_id))
        if alert.source != "monitor" or SEVERITIES.index(alert.severity) < floor:
            continue
        if config.monitor is not None and alert.subject.get("monitor") != config.monitor:
            continue
        if alert_kind(alert.metric) not in config.kinds:
            continue
        matched.append(alert)
    after = events[-1].id if events else cursor["after_id"]
    # A full batch means more may be waiting: look again at once.
    next_at = now if len(events) == ALERT_BATCH else now + config.check_s * 1000
    new_cursor = {**cursor, "after_id": after}
    if not matched:
        return Check(new_cursor, next_at)
    firing = {
        "alerts": [a.id for a in matched[:MAX_ALERT_IDS]],
        "alert_count": len(matched),
        "monitors": sorted({a.subject.get("monitor", "") for a in matched}),
        "kinds": sorted({str(alert_kind(a.metric)) for a in matched}),
        "metrics": sorted({a.metric for a in matched})[:MAX_ALERT_IDS],
    }
    return Check(new_cursor, next_at, firing)


def _check_labels(ctx: Context, config: Any, cursor: dict[str, Any], now: int) -> Check:
    from mloop.review.dashboard import count_review_labels
    from mloop.review.schemas import CountLabels

    found = count_review_labels(ctx, CountLabels(queue=config.queue, since=cursor["since"]))
    next_at = now + config.check_s * 1000
    if found.count < config.min_labels or found.last_completed_at is None:
        return Check(cursor, next_at)
    firing = {"queue": config.queue, "labels": found.count, "since": cursor["since"]}
    return Check({"since": found.last_completed_at}, next_at, firing)


def _latest_version(ctx: Context, dataset: str) -> int:
    from mloop.datasets.schemas import ListDatasetVersions
    from mloop.datasets.versions import list_dataset_versions

    try:
        found = list_dataset_versions(ctx, ListDatasetVersions(name=dataset, max_results=1))
    except NotFoundError:
        return 0  # the dataset does not exist yet; its first version will fire
    return found.dataset_versions[0].version if found.dataset_versions else 0


def _check_dataset(ctx: Context, config: Any, cursor: dict[str, Any], now: int) -> Check:
    latest = _latest_version(ctx, config.dataset)
    next_at = now + config.check_s * 1000
    if latest <= cursor["version"]:
        return Check(cursor, next_at)
    version = f"{config.dataset}/{latest}"
    firing: dict[str, Any] = {"dataset": version, "version": latest}
    if config.param is not None:
        firing["params"] = {config.param: version}
    return Check({"version": latest}, next_at, firing)


def evaluate(ctx: Context, row: Any, now: int) -> Check:
    """Check one trigger against what it watches."""
    config = parse_config(row.kind, json.loads(row.config_json))
    cursor = json.loads(row.cursor_json)
    if row.kind == "cron":
        return _check_cron(config, cursor, now)
    if row.kind == "alert":
        return _check_alert(ctx, config, cursor, now)
    if row.kind == "labels":
        return _check_labels(ctx, config, cursor, now)
    if row.kind == "dataset":
        return _check_dataset(ctx, config, cursor, now)
    raise ValueError(f"{row.kind} triggers are not checked")


def due_triggers(ctx: Context, now: int, limit: int = 100) -> list[tuple[str, int]]:
    """(name, version) of the enabled triggers whose check is due, most overdue first."""
    tr = t.automation_triggers.c
    rows = ctx.conn.execute(
        select(tr.name, tr.version)
        .where(tr.enabled.is_(True), tr.next_check_at.is_not(None), tr.next_check_at <= now)
        .order_by(tr.next_check_at)
        .limit(limit)
    )
    return [(name, version) for name, version in rows]


def _claim(ctx: Context, row: Any, version: int, values: dict[str, Any]) -> bool:
    tr = t.automation_triggers.c
    return bool(
        ctx.conn.execute(
            update(t.automation_triggers)
            .where(tr.id == row.id, tr.version == version)
            .values(version=version + 1, **values)
        ).rowcount
    )


def check_trigger(ctx: Context, name: str, version: int, now: int) -> list[TriggerEvent]:
    """Check the trigger ``name`` if it is still at ``version`` (no other worker checked it
    since it was read); the events its firing left (none when nothing was new)."""
    try:
        row = load_trigger_row(ctx, name)
    except NotFoundError:
        return []  # deleted since it was listed
    if row.version != version or row.next_check_at is None or row.next_check_at > now:
        return []
    try:
        found = evaluate(ctx, row, now)
    except MloopError as exc:
        # What it watches is gone or refuses the read (a deleted queue): on record, and
        # looked at again later instead of every round.
        config = json.loads(row.config_json)
        retry = now + int(config.get("check_s", 60)) * 1000
        if not _claim(ctx, row, version, {"next_check_at": retry}):
            return []
        reason = f"the check failed: {exc}"
        return [
            record_event(
                ctx, row, source=row.kind, outcome="skipped", reason=reason, payload={}, now=now
            )
        ]
    values = {"cursor_json": dumps(found.cursor), "next_check_at": found.next_check_at}
    if not _claim(ctx, row, version, values):
        return []  # another worker checked it first
    if found.firing is None:
        return []
    fresh = load_trigger_row(ctx, name, lock=True)
    event, _job = fire(ctx, fresh, source=row.kind, payload=found.firing, now=now)
    return [event]
