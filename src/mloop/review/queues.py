"""Review queues: create, change, read and delete.

A queue's choices and overlap are fixed once it exists (answers already given were given to
them); its instructions, reviewers, lease, priority and agreement threshold may change.
Deleting a queue deletes its items and answers (admin): labels its answers already attached
to the inference log stay there.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, literal, select, update

from mloop.core.errors import ConflictError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.review import tables as t
from mloop.review.ops import operations
from mloop.review.records import counts, dumps, load_queue_row, queue_message
from mloop.review.schemas import (
    ListQueues,
    Queue,
    QueueList,
    QueueName,
    QueueSpec,
    UpdateQueue,
)
from mloop.store.context import Context


def _check_spec(spec: QueueSpec) -> None:
    check_asset_name(spec.name, "name", what="queue name")
    check_text(spec.description, "description", max_length=2000)
    check_text(spec.instructions, "instructions", max_length=10_000)
    if spec.rating_scale == 1:
        raise ValidationError(
            "rating_scale must be 0 (no rating) or 2 to 10 (rate 1..N)", field="rating_scale"
        )
    seen: set[str] = set()
    for i, choice in enumerate(spec.choices):
        if choice is None or isinstance(choice, dict | list):
            raise ValidationError(
                f"choices[{i}] must be a string, number or boolean", field=f"choices[{i}]"
            )
        key = dumps(choice)
        if key in seen:
            raise ValidationError(f"choices[{i}] {choice!r} is given twice", field="choices")
        seen.add(key)
    if not spec.choices and not spec.free_text and spec.rating_scale == 0:
        raise ValidationError(
            "a queue needs something to answer: choices, free_text or a rating_scale",
            field="choices",
        )
    _check_reviewers(spec.reviewers)


def _check_reviewers(reviewers: list[str]) -> None:
    for i, name in enumerate(reviewers):
        check_text(name, f"reviewers[{i}]", max_length=256)
        if not name.strip():
            raise ValidationError(f"reviewers[{i}] is empty", field=f"reviewers[{i}]")
    if len(set(reviewers)) != len(reviewers):
        raise ValidationError("reviewers lists a name twice", field="reviewers")


@operations.post("/queues/create", QueueSpec, Queue)
def create_review_queue(ctx: Context, req: QueueSpec) -> Queue:
    """Create a review queue."""
    _check_spec(req)
    q = t.review_queues.c
    if ctx.conn.execute(select(q.id).where(q.name == req.name)).first() is not None:
        raise ConflictError(f"review queue {req.name!r} already exists", field="name")
    now = now_ms()
    ctx.conn.execute(
        insert(t.review_queues).values(
            name=req.name,
            description=req.description,
            instructions=req.instructions,
            choices_json=dumps(req.choices),
            free_text=req.free_text,
            rating_scale=req.rating_scale,
            overlap=req.overlap,
            lease_seconds=req.lease_seconds,
            priority=req.priority,
            agreement_threshold=req.agreement_threshold,
            reviewers_json=dumps(req.reviewers),
            created_by=ctx.actor,
            created_at=now,
            updated_at=now,
        )
    )
    return queue_message(load_queue_row(ctx, req.name, "name"))


@operations.post("/queues/update", UpdateQueue, Queue)
def update_review_queue(ctx: Context, req: UpdateQueue) -> Queue:
    """Change a queue's description, instructions, reviewers, lease, priority or threshold."""
    row = load_queue_row(ctx, req.name, "name")
    changes: dict[str, object] = {}
    if req.description is not None:
        changes["description"] = check_text(req.description, "description", max_length=2000)
    if req.instructions is not None:
        changes["instructions"] = check_text(req.instructions, "instructions", max_length=10_000)
    if req.reviewers is not None:
        _check_reviewers(req.reviewers)
        changes["reviewers_json"] = dumps(req.reviewers)
    for key in ("lease_seconds", "priority", "agreement_threshold"):
        value = getattr(req, key)
        if value is not None:
            changes[key] = value
    if changes:
        changes["updated_at"] = now_ms()
        ctx.conn.execute(
            update(t.review_queues).where(t.review_queues.c.id == row.id).values(**changes)
        )
    if req.priority is not None and req.priority != row.priority:
        _resort(ctx, row.id, req.priority)
    return get_review_queue(ctx, QueueName(name=row.name))


def _resort(ctx: Context, queue_id: int, priority: str) -> None:
    """Give the queue's items the new priority's sort keys (as ``items.sort_key`` does for
    new ones): items queued before the change are served by it too."""
    i, s = t.review_items.c, t.review_slots.c
    key = literal(0.0) if priority == "oldest" else func.coalesce(i.confidence, 1.0)
    ctx.conn.execute(update(t.review_items).where(i.queue_id == queue_id).values(sort_key=key))
    ctx.conn.execute(
        update(t.review_slots)
        .where(s.queue_id == queue_id)
        .values(sort_key=select(i.sort_key).where(i.id == s.item_id).scalar_subquery())
    )


@operations.get("/queues/get", QueueName, Queue, role="review_read")
def get_review_queue(ctx: Context, req: QueueName) -> Queue:
    """One queue with its counts of open, escalated and done items."""
    row = load_queue_row(ctx, req.name, "name")
    return queue_message(row, counts(ctx, [row.id])[row.id])


@operations.get("/queues/list", ListQueues, QueueList, role="review_read")
def list_review_queues(ctx: Context, req: ListQueues) -> QueueList:
    """Review queues by name, with their counts."""
    rows = list(
        ctx.conn.execute(
            select(t.review_queues).order_by(t.review_queues.c.name).limit(req.max_results)
        )
    )
    found = counts(ctx, [r.id for r in rows])
    return QueueList(queues=[queue_message(r, found[r.id]) for r in rows])


@operations.post("/queues/delete", QueueName, Empty, role="admin")
def delete_review_queue(ctx: Context, req: QueueName) -> Empty:
    """Delete a queue with its items, answers and policies (labels already attached to the
    inference log stay)."""
    row = load_queue_row(ctx, req.name, "name")
    items = select(t.review_items.c.id).where(t.review_items.c.queue_id == row.id)
    for table in (t.review_slots, t.review_answers, t.review_skips, t.review_comments):
        ctx.conn.execute(delete(table).where(table.c.item_id.in_(items)))
    ctx.conn.execute(delete(t.review_items).where(t.review_items.c.queue_id == row.id))
    ctx.conn.execute(delete(t.review_policies).where(t.review_policies.c.queue_id == row.id))
    ctx.conn.execute(delete(t.review_queues).where(t.review_queues.c.id == row.id))
    return Empty()
