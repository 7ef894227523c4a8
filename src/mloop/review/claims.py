"""Handing items out: claim the next one with a lease, release, skip, escalate.

``next_review_item`` first renews an item the reviewer already holds in the queue (a page
reloaded gets the same case), then claims the best open slot: least confident or oldest
first, assigned items only to their assignee, never an item the reviewer skipped or holds
another slot of. The claim is one conditional UPDATE of the slot (open, or its lease ran
out), so of two reviewers racing for a slot one wins and the other moves on; on PostgreSQL
the candidates are read ``FOR UPDATE SKIP LOCKED``, so racing reviewers do not even wait
for each other.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.review import tables as t
from mloop.review.ops import operations
from mloop.review.records import (
    check_member,
    item_message,
    load_item_row,
    load_queue_by_id,
    load_queue_row,
)
from mloop.review.schemas import Claimed, EscalateItem, ItemRef, NextItem, ReviewItem
from mloop.store.context import Context

CANDIDATES = 16  # slots read per attempt; racing reviewers move on to the next
ATTEMPTS = 8  # reads of candidates before answering "nothing for you now"


def _claimable(s: Any, now: int) -> Any:
    return or_(s.state == "open", and_(s.state == "claimed", s.lease_expires_at <= now))


def savepoint(ctx: Context) -> AbstractContextManager[Any]:
    """A savepoint where a unique index may refuse a write under a race (PostgreSQL, where
    the failed statement would abort the transaction). SQLite runs one writer at a time, so
    there the race cannot happen and the savepoint would only cost two statements."""
    if ctx.conn.dialect.name == "sqlite":
        return contextlib.nullcontext()
    return ctx.conn.begin_nested()


def claim_slot(
    ctx: Context, item_id: int, slot: int, reviewer: str, now: int, expires: int
) -> bool:
    """Take one slot if it is free; False when another reviewer got it first, or when the
    reviewer already holds another slot of the item (the unique index says so)."""
    s = t.review_slots.c
    try:
        with savepoint(ctx):
            taken = ctx.conn.execute(
                update(t.review_slots)
                .where(s.item_id == item_id, s.slot == slot, _claimable(s, now))
                .values(
                    state="claimed", reviewer=reviewer, claimed_at=now, lease_expires_at=expires
                )
            ).rowcount
    except IntegrityError:
        return False
    return bool(taken)


def _held(ctx: Context, queue_id: int, reviewer: str) -> Any:
    """The slot the reviewer holds in the queue, its lease running or run out (an item no one
    else took since is still theirs to finish)."""
    s, i = t.review_slots.c, t.review_items.c
    return ctx.conn.execute(
        select(s.item_id, s.slot)
        .join(t.review_items, i.id == s.item_id)
        .where(
            s.queue_id == queue_id,
            s.reviewer == reviewer,
            s.state == "claimed",
            i.status == "open",
        )
        .order_by(s.claimed_at)
        .limit(1)
    ).first()


def _candidates(ctx: Context, queue_id: int, reviewer: str, now: int) -> list[Any]:
    s, i = t.review_slots.c, t.review_items.c
    other = t.review_slots.alias("other")
    skip = t.review_skips.c
    query = (
        select(s.item_id, s.slot)
        .join(t.review_items, i.id == s.item_id)
        .where(
            s.queue_id == queue_id,
            _claimable(s, now),
            i.status == "open",
            or_(i.assignee.is_(None), i.assignee == reviewer),
            # Not an item the reviewer holds or answered: one probe of the unique index
            # on (item, reviewer) per candidate.
            ~exists().where(other.c.item_id == s.item_id, other.c.reviewer == reviewer),
            ~exists().where(skip.item_id == s.item_id, skip.reviewer == reviewer),
        )
        .order_by(s.sort_key, s.item_id, s.slot)
        .limit(CANDIDATES)
    )
    if ctx.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=t.review_slots)
    return list(ctx.conn.execute(query))


def _remaining(ctx: Context, queue_id: int) -> int:
    i = t.review_items.c
    return int(
        ctx.conn.execute(
            select(func.count()).where(i.queue_id == queue_id, i.status == "open")
        ).scalar_one()
    )


@operations.post("/next", NextItem, Claimed, role="reviewer")
def next_review_item(ctx: Context, req: NextItem) -> Claimed:
    """Claim the next item of a queue for the caller (or renew the one they hold)."""
    queue = load_queue_row(ctx, req.queue)
    check_member(queue, ctx.actor)
    now = now_ms()
    expires = now + queue.lease_seconds * 1000
    s = t.review_slots.c
    held = _held(ctx, queue.id, ctx.actor)
    if held is not None:
        ctx.conn.execute(
            update(t.review_slots)
            .where(s.item_id == held.item_id, s.slot == held.slot)
            .values(lease_expires_at=expires)
        )
        return _claimed(ctx, queue, held.item_id, expires)
    for _attempt in range(ATTEMPTS):
        candidates = _candidates(ctx, queue.id, ctx.actor, now)
        if not candidates:
            break
        for item_id, slot in candidates:
            if claim_slot(ctx, item_id, slot, ctx.actor, now, expires):
                return _claimed(ctx, queue, item_id, expires)
    return Claimed(item=None, remaining=_remaining(ctx, queue.id))


def _claimed(ctx: Context, queue: Any, item_id: int, expires: int) -> Claimed:
    item = item_message(load_item_row(ctx, item_id), queue.name)
    return Claimed(item=item, lease_expires_at=expires, remaining=_remaining(ctx, queue.id))


def close_slots(ctx: Context, item_id: int) -> None:
    """Take an item's unanswered slots out of the queue (it was escalated, or a lead
    decided it); holders lose their claims."""
    s = t.review_slots.c
    ctx.conn.execute(
        update(t.review_slots)
        .where(s.item_id == item_id, s.state.in_(("open", "claimed")))
        .values(state="closed", reviewer=None, claimed_at=None, lease_expires_at=None)
    )


def _release(ctx: Context, item_id: int, reviewer: str) -> int:
    s = t.review_slots.c
    return ctx.conn.execute(
        update(t.review_slots)
        .where(s.item_id == item_id, s.reviewer == reviewer, s.state == "claimed")
        .values(state="open", reviewer=None, claimed_at=None, lease_expires_at=None)
    ).rowcount


@operations.post("/items/release", ItemRef, ReviewItem, role="reviewer")
def release_review_item(ctx: Context, req: ItemRef) -> ReviewItem:
    """Give an item back to the queue unanswered (another reviewer, or you later, takes it)."""
    row = load_item_row(ctx, req.id)
    queue = load_queue_by_id(ctx, row.queue_id)
    if not _release(ctx, row.id, ctx.actor):
        raise ConflictError(f"you do not hold review item {row.id}", field="id")
    return item_message(load_item_row(ctx, row.id), queue.name)


@operations.post("/items/skip", ItemRef, ReviewItem, role="reviewer")
def skip_review_item(ctx: Context, req: ItemRef) -> ReviewItem:
    """Pass on an item: it goes back to the queue and is not offered to you again."""
    row = load_item_row(ctx, req.id)
    queue = load_queue_by_id(ctx, row.queue_id)
    check_member(queue, ctx.actor)
    _release(ctx, row.id, ctx.actor)
    skip = t.review_skips.c
    if (
        ctx.conn.execute(
            select(skip.item_id).where(skip.item_id == row.id, skip.reviewer == ctx.actor)
        ).first()
        is None
    ):
        ctx.conn.execute(
            insert(t.review_skips).values(item_id=row.id, reviewer=ctx.actor, created_at=now_ms())
        )
    return item_message(load_item_row(ctx, row.id), queue.name)


@operations.post("/items/escalate", EscalateItem, ReviewItem, role="reviewer")
def escalate_review_item(ctx: Context, req: EscalateItem) -> ReviewItem:
    """Hand a hard case to a lead: it leaves the queue until a writer resolves it."""
    row = load_item_row(ctx, req.id, lock=True)
    queue = load_queue_by_id(ctx, row.queue_id)
    check_member(queue, ctx.actor)
    note = check_text(req.note, "note", max_length=10_000)
    if row.status != "open":
        raise ConflictError(
            f"review item {row.id} is {row.status}; only open items escalate", field="id"
        )
    now = now_ms()
    close_slots(ctx, row.id)
    ctx.conn.execute(
        update(t.review_items)
        .where(t.review_items.c.id == row.id)
        .values(status="escalated", escalated_by=ctx.actor, escalation_note=note, updated_at=now)
    )
    return item_message(load_item_row(ctx, row.id), queue.name)
