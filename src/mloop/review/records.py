"""Rows to messages, lookups by name and id, and the canonical JSON labels are compared in."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select

from mloop.core.errors import NotFoundError, PermissionDeniedError
from mloop.core.naming import check_asset_name
from mloop.review import tables as t
from mloop.review.schemas import Answer, Queue, QueueCounts, ReviewItem
from mloop.store.context import Context


def dumps(value: Any) -> str:
    """``value`` as canonical JSON text (sorted keys): equal labels give equal text."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def load_queue_row(ctx: Context, name: str, field: str = "queue") -> Any:
    name = check_asset_name(name, field, what="queue name")
    row = ctx.conn.execute(select(t.review_queues).where(t.review_queues.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"review queue {name!r} does not exist", field=field)
    return row


def queue_names(ctx: Context, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    q = t.review_queues.c
    return dict(ctx.conn.execute(select(q.id, q.name).where(q.id.in_(ids))).all())


def check_member(queue: Any, reviewer: str) -> None:
    """Refuse a reviewer the queue does not list (a queue listing nobody takes everyone)."""
    allowed = loads(queue.reviewers_json)
    if allowed and reviewer not in allowed:
        raise PermissionDeniedError(
            f"{reviewer!r} is not a reviewer of queue {queue.name!r}; its reviewers are "
            f"{', '.join(allowed)}",
            field="queue",
        )


def counts(ctx: Context, queue_ids: list[int]) -> dict[int, QueueCounts]:
    """Items per status and answers, per queue."""
    i = t.review_items.c
    found: dict[int, QueueCounts] = {qid: QueueCounts() for qid in queue_ids}
    if not queue_ids:
        return found
    rows = ctx.conn.execute(
        select(i.queue_id, i.status, func.count(), func.coalesce(func.sum(i.answers_count), 0))
        .where(i.queue_id.in_(queue_ids))
        .group_by(i.queue_id, i.status)
    )
    for queue_id, status, n, answers in rows:
        entry = found[queue_id]
        setattr(entry, status, int(n))
        entry.answers += int(answers)
    return found


def queue_message(row: Any, queue_counts: QueueCounts | None = None) -> Queue:
    return Queue(
        id=row.id,
        name=row.name,
        description=row.description,
        instructions=row.instructions,
        choices=loads(row.choices_json),
        free_text=row.free_text,
        rating_scale=row.rating_scale,
        overlap=row.overlap,
        lease_seconds=row.lease_seconds,
        priority=row.priority,
        agreement_threshold=row.agreement_threshold,
        reviewers=loads(row.reviewers_json),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        counts=queue_counts or QueueCounts(),
    )


def item_message(row: Any, queue: str) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        queue=queue,
        source=row.source,
        target=row.target,
        request_id=row.request_id,
        reason=row.reason,
        payload=loads(row.payload_json),
        prediction=loads(row.prediction_json),
        confidence=row.confidence,
        model_name=row.model_name,
        model_version=row.model_version,
        variant=row.variant,
        prompt_name=row.prompt_name,
        prompt_version=row.prompt_version,
        status=row.status,
        answers_needed=row.answers_needed,
        answers_count=row.answers_count,
        assignee=row.assignee,
        final_label=loads(row.final_label_json),
        final_rating=row.final_rating,
        agreement=row.agreement,
        low_agreement=row.low_agreement,
        changed=row.changed,
        escalated_by=row.escalated_by,
        escalation_note=row.escalation_note,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


def answer_message(row: Any) -> Answer:
    return Answer(
        id=row.id,
        item_id=row.item_id,
        reviewer=row.reviewer,
        label=loads(row.label_json),
        rating=row.rating,
        comment=row.comment,
        changed=row.changed,
        seconds=row.seconds,
        created_at=row.created_at,
    )


def load_item_row(ctx: Context, item_id: int, *, lock: bool = False) -> Any:
    query = select(t.review_items).where(t.review_items.c.id == item_id)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"review item {item_id} does not exist", field="id")
    return row


def load_queue_by_id(ctx: Context, queue_id: int) -> Any:
    return ctx.conn.execute(select(t.review_queues).where(t.review_queues.c.id == queue_id)).one()
