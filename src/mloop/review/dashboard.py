"""Queue dashboards: backlog, throughput per day, time per answer, agreement per item and
per reviewer, and how often reviewers changed the model's answer."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Hashable, Mapping
from typing import Any

from sqlalchemy import func, select

from mloop.core.timeutil import now_ms
from mloop.review import tables as t
from mloop.review.agreement import queue_agreement, reviewer_agreement
from mloop.review.ops import operations
from mloop.review.records import counts, load_queue_row
from mloop.review.schemas import (
    CountLabels,
    DayCount,
    GetQueueStats,
    LabelCount,
    QueueStats,
    ReviewerStats,
)
from mloop.store.context import Context

DAY_MS = 86_400_000
MAX_AGREEMENT_ITEMS = 20_000  # most recent multi-answer items agreement is measured on


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date().isoformat()


def _per_day(
    ctx: Context, column: Any, queue_id: int, since: int, queue_column: Any
) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for (value,) in ctx.conn.execute(
        select(column).where(queue_column == queue_id, column >= since)
    ):
        found[_day(value)] += 1
    return found


@operations.get("/queues/stats", GetQueueStats, QueueStats, role="review_read")
def get_review_queue_stats(ctx: Context, req: GetQueueStats) -> QueueStats:
    """A queue's backlog, daily throughput, agreement and reviewers."""
    queue = load_queue_row(ctx, req.name, "name")
    now = now_ms()
    today = now - now % DAY_MS
    since = today - (req.days - 1) * DAY_MS
    a, i = t.review_answers.c, t.review_items.c
    answered = _per_day(ctx, a.created_at, queue.id, since, a.queue_id)
    completed = _per_day(ctx, i.completed_at, queue.id, since, i.queue_id)
    added = _per_day(ctx, i.created_at, queue.id, since, i.queue_id)
    days = [
        DayCount(
            day=d, answers=answered.get(d, 0), completed=completed.get(d, 0), added=added.get(d, 0)
        )
        for d in (_day(since + k * DAY_MS) for k in range(req.days))
    ]
    answers = list(
        ctx.conn.execute(
            select(a.item_id, a.reviewer, a.label_json, a.seconds).where(a.queue_id == queue.id)
        )
    )
    by_reviewer: dict[str, list[Any]] = defaultdict(list)
    by_item: dict[Hashable, dict[str, Hashable]] = defaultdict(dict)
    for row in answers:
        by_reviewer[row.reviewer].append(row)
        if row.label_json is not None:
            by_item[row.item_id][row.reviewer] = row.label_json
    multi: Mapping[Hashable, Mapping[str, Hashable]] = {
        k: v for k, v in by_item.items() if len(v) >= 2
    }
    if len(multi) > MAX_AGREEMENT_ITEMS:
        newest = sorted(multi, key=lambda k: int(k))[-MAX_AGREEMENT_ITEMS:]  # type: ignore[call-overload]
        multi = {k: multi[k] for k in newest}
    agreement = {r.reviewer: r for r in reviewer_agreement(multi)} if multi else {}
    reviewers = []
    for name in sorted(by_reviewer):
        rows = by_reviewer[name]
        seconds = [r.seconds for r in rows if r.seconds is not None]
        found = agreement.get(name)
        reviewers.append(
            ReviewerStats(
                reviewer=name,
                answers=len(rows),
                median_seconds=statistics.median(seconds) if seconds else None,
                with_consensus=found.with_consensus if found else None,
                kappa=found.kappa if found else None,
                compared_items=found.compared_items if found else 0,
            )
        )
    done = ctx.conn.execute(
        select(
            func.count(i.changed),
            func.count().filter(i.changed.is_(True)),
            func.count().filter(i.low_agreement.is_(True)),
        ).where(i.queue_id == queue.id, i.status == "done")
    ).one()
    seconds = [r.seconds for r in answers if r.seconds is not None]
    return QueueStats(
        queue=queue.name,
        counts=counts(ctx, [queue.id])[queue.id],
        days=days,
        median_seconds=statistics.median(seconds) if seconds else None,
        changed_share=(int(done[1]) / int(done[0])) if done[0] else None,
        agreement=queue_agreement(multi) if multi else None,
        low_agreement_items=int(done[2]),
        reviewers=reviewers,
    )


@operations.get("/labels/count", CountLabels, LabelCount, role="review_read", quick=True)
def count_review_labels(ctx: Context, req: CountLabels) -> LabelCount:
    """Items of a queue completed after ``since``: the "N new labels" a retraining waits for."""
    queue = load_queue_row(ctx, req.queue)
    i = t.review_items.c
    n, last = ctx.conn.execute(
        select(func.count(), func.max(i.completed_at)).where(
            i.queue_id == queue.id, i.status == "done", i.completed_at > req.since
        )
    ).one()
    return LabelCount(count=int(n), last_completed_at=last)
