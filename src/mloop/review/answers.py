"""Answers: submitted once, checked against the queue, and turned into labels.

A reviewer answers an item once: submitting the same answer again returns the stored one
(``duplicate``), a different one is refused (409), and a unique index on (item, reviewer)
holds that under any race. The item's row is locked while an answer is recorded, so the
answer that completes it is counted once. When an item has the answers it needs, its final
label is the majority (a tie is flagged, like low agreement), and an item from an endpoint
gets that label as ground truth for its request id in the inference log, in the same
transaction: performance monitoring sees it, and a retraining reads it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.review import tables as t
from mloop.review.agreement import item_agreement, majority
from mloop.review.claims import claim_slot, close_slots, savepoint
from mloop.review.ops import operations
from mloop.review.records import (
    answer_message,
    check_member,
    dumps,
    item_message,
    load_item_row,
    load_queue_by_id,
    loads,
)
from mloop.review.schemas import Answer, ImportedAnswer, ResolveItem, SubmitAnswer, Submitted
from mloop.store.context import Context

LABEL_ORIGIN = "review"


def rows_of(payload: dict[str, Any]) -> int:
    """How many rows a case has: a multi-row request is labelled with one label per row."""
    inputs = payload.get("inputs")
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return len(inputs)
    return 1


def check_answer(
    queue: Any, payload: dict[str, Any], label: Any, rating: int | None, where: str = ""
) -> None:
    """Refuse an answer the queue cannot take, naming the field and what it takes.
    ``where``: the answer's place in the request ("" when its fields are the request's)."""
    at = f"{where}." if where else ""
    if label is None and rating is None:
        raise ValidationError(f"{at}label: give a label or a rating", field=f"{at}label")
    if rating is not None:
        if queue.rating_scale == 0:
            raise ValidationError(
                f"{at}rating: queue {queue.name!r} takes no rating", field=f"{at}rating"
            )
        if not 1 <= rating <= queue.rating_scale:
            raise ValidationError(
                f"{at}rating must be 1 to {queue.rating_scale}, got {rating}",
                field=f"{at}rating",
            )
    if label is None:
        return
    rows = rows_of(payload)
    if rows > 1 and isinstance(label, list):
        if len(label) != rows:
            raise ValidationError(
                f"{at}label has {len(label)} entries; the case has {rows} rows (give one "
                "label per row, or one label for all)",
                field=f"{at}label",
            )
        for j, value in enumerate(label):
            _check_one(queue, value, f"{at}label[{j}]")
        return
    _check_one(queue, label, f"{at}label")


def _check_one(queue: Any, label: Any, field: str) -> None:
    choices = loads(queue.choices_json)
    if choices and dumps(label) in {dumps(c) for c in choices}:
        return
    if queue.free_text and isinstance(label, str):
        check_text(label, field, max_length=10_000)
        if label.strip():
            return
        raise ValidationError(f"{field} is empty", field=field)
    if choices:
        shown = ", ".join(dumps(c) for c in choices)
        more = " or free text" if queue.free_text else ""
        raise ValidationError(
            f"{field} {dumps(label)[:80]} is not one of {shown}{more}", field=field
        )
    if queue.free_text:
        raise ValidationError(
            f"{field} must be text: queue {queue.name!r} takes free-text answers", field=field
        )
    raise ValidationError(f"{field}: queue {queue.name!r} takes ratings only", field=field)


def _differs(label: Any, prediction: Any, payload_json: str) -> bool | None:
    """Whether ``label`` changes the model's answer; None when either is unknown."""
    if label is None or prediction is None:
        return None
    rows = rows_of(loads(payload_json))
    if rows > 1 and not isinstance(label, list) and isinstance(prediction, list):
        # One label for every row: a change unless every row was predicted so.
        return any(dumps(label) != dumps(p) for p in prediction)
    return dumps(label) != dumps(prediction)


def _insert_answer(
    ctx: Context,
    item: Any,
    reviewer: str,
    label: Any,
    rating: int | None,
    comment: str,
    seconds: float | None,
    created_at: int,
) -> int:
    return int(
        ctx.conn.execute(
            insert(t.review_answers).values(
                item_id=item.id,
                queue_id=item.queue_id,
                reviewer=reviewer,
                label_json=None if label is None else dumps(label),
                rating=rating,
                comment=comment,
                changed=_differs(label, loads(item.prediction_json), item.payload_json),
                seconds=seconds,
                created_at=created_at,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )


def _mine(ctx: Context, item_id: int, reviewer: str) -> Any:
    a = t.review_answers.c
    return ctx.conn.execute(
        select(t.review_answers).where(a.item_id == item_id, a.reviewer == reviewer)
    ).first()


def _repeat(queue: Any, item: Any, found: Any, label: Any, rating: int | None) -> Submitted:
    """The stored answer when it is the one submitted again; 409 otherwise."""
    same = found.label_json == (None if label is None else dumps(label)) and found.rating == rating
    if not same:
        raise ConflictError(
            f"you already answered review item {item.id} ({found.label_json or found.rating}); "
            "answers are final",
            field="label",
        )
    return Submitted(
        answer=answer_message(found), item=item_message(item, queue.name), duplicate=True
    )


@operations.post("/items/submit", SubmitAnswer, Submitted, role="reviewer")
def submit_review_answer(ctx: Context, req: SubmitAnswer) -> Submitted:
    """Answer an item you hold (or a free one): once; the same answer again is a no-op."""
    item = load_item_row(ctx, req.id, lock=True)
    queue = load_queue_by_id(ctx, item.queue_id)
    check_member(queue, ctx.actor)
    comment = check_text(req.comment, "comment", max_length=10_000)
    found = _mine(ctx, item.id, ctx.actor)
    if found is not None:
        return _repeat(queue, item, found, req.label, req.rating)
    if item.status == "escalated":
        raise ConflictError(
            f"review item {item.id} was escalated; a lead (writer) resolves it", field="id"
        )
    if item.status == "done":
        raise ConflictError(f"review item {item.id} already has all its answers", field="id")
    check_answer(queue, loads(item.payload_json), req.label, req.rating)
    now = now_ms()
    s = t.review_slots.c
    slot = ctx.conn.execute(
        select(s.slot, s.claimed_at).where(
            s.item_id == item.id, s.reviewer == ctx.actor, s.state == "claimed"
        )
    ).first()
    claimed_at = None if slot is None else slot.claimed_at
    if slot is None:
        free = (
            ctx.conn.execute(select(s.slot).where(s.item_id == item.id).order_by(s.slot))
            .scalars()
            .all()
        )
        took = next((n for n in free if claim_slot(ctx, item.id, n, ctx.actor, now, now)), None)
        if took is None:
            raise ConflictError(
                f"review item {item.id} is held by other reviewers; claim the next item "
                "with next_review_item",
                field="id",
            )
        slot_number = took
    else:
        slot_number = slot.slot
    seconds = None if claimed_at is None else (now - claimed_at) / 1000.0
    try:
        with savepoint(ctx):
            answer_id = _insert_answer(
                ctx, item, ctx.actor, req.label, req.rating, comment, seconds, now
            )
    except IntegrityError:  # the same reviewer's other request got there first
        found = _mine(ctx, item.id, ctx.actor)
        if found is None:
            raise
        return _repeat(queue, item, found, req.label, req.rating)
    ctx.conn.execute(
        update(t.review_slots)
        .where(s.item_id == item.id, s.slot == slot_number)
        .values(state="answered", reviewer=ctx.actor)
    )
    count = item.answers_count + 1
    ctx.conn.execute(
        update(t.review_items)
        .where(t.review_items.c.id == item.id)
        .values(answers_count=count, updated_at=now)
    )
    if count >= item.answers_needed:
        complete(ctx, queue, item)  # reads only what the answer did not change
    answer = Answer(
        id=answer_id,
        item_id=item.id,
        reviewer=ctx.actor,
        label=req.label,
        rating=req.rating,
        comment=comment,
        changed=_differs(req.label, loads(item.prediction_json), item.payload_json),
        seconds=seconds,
        created_at=now,
    )
    return Submitted(answer=answer, item=item_message(load_item_row(ctx, item.id), queue.name))


@operations.post("/items/resolve", ResolveItem, Submitted)
def resolve_review_item(ctx: Context, req: ResolveItem) -> Submitted:
    """A lead's final answer to an escalated or open item: it decides the label alone."""
    item = load_item_row(ctx, req.id, lock=True)
    queue = load_queue_by_id(ctx, item.queue_id)
    comment = check_text(req.comment, "comment", max_length=10_000)
    if item.status == "done":
        raise ConflictError(f"review item {item.id} is already done", field="id")
    check_answer(queue, loads(item.payload_json), req.label, req.rating)
    now = now_ms()
    found = _mine(ctx, item.id, ctx.actor)
    if found is not None:
        raise ConflictError(
            f"you already answered review item {item.id}; answers are final", field="id"
        )
    answer_id = _insert_answer(ctx, item, ctx.actor, req.label, req.rating, comment, None, now)
    close_slots(ctx, item.id)
    ctx.conn.execute(
        update(t.review_items)
        .where(t.review_items.c.id == item.id)
        .values(answers_count=item.answers_count + 1, updated_at=now)
    )
    complete(ctx, queue, load_item_row(ctx, item.id), decided_by=answer_id)
    answer = ctx.conn.execute(
        select(t.review_answers).where(t.review_answers.c.id == answer_id)
    ).one()
    return Submitted(
        answer=answer_message(answer), item=item_message(load_item_row(ctx, item.id), queue.name)
    )


def record_imported(
    ctx: Context, queue: Any, item_id: int, answers: Sequence[ImportedAnswer]
) -> None:
    """Store answers given elsewhere with a new item; complete it if they are enough."""
    item = load_item_row(ctx, item_id)
    now = now_ms()
    s = t.review_slots.c
    for j, answer in enumerate(answers):
        check_text(answer.comment, "comment", max_length=10_000)
        _insert_answer(
            ctx,
            item,
            answer.reviewer,
            answer.label,
            answer.rating,
            answer.comment,
            None,
            answer.created_at or now,
        )
        if j < item.answers_needed:
            ctx.conn.execute(
                update(t.review_slots)
                .where(s.item_id == item_id, s.slot == j)
                .values(state="answered", reviewer=answer.reviewer)
            )
    ctx.conn.execute(
        update(t.review_items)
        .where(t.review_items.c.id == item_id)
        .values(answers_count=len(answers))
    )
    if len(answers) >= item.answers_needed:
        complete(ctx, queue, load_item_row(ctx, item_id))


def complete(ctx: Context, queue: Any, item: Any, *, decided_by: int | None = None) -> None:
    """Settle an item's final answer and agreement, and send its label to the inference log."""
    a = t.review_answers.c
    answers = list(
        ctx.conn.execute(select(t.review_answers).where(a.item_id == item.id).order_by(a.id))
    )
    # A lead's resolution overrides the reviewers' answers.
    deciding = answers if decided_by is None else [r for r in answers if r.id == decided_by]
    labels = [r.label_json for r in deciding if r.label_json is not None]
    ratings = [r.rating for r in deciding if r.rating is not None]
    final_label: str | None = None
    tie = False
    if labels:
        winner, tie = majority(labels)
        final_label = str(winner)
    agreement = item_agreement(labels) if decided_by is None and len(labels) >= 2 else None
    low = tie or (agreement is not None and agreement < queue.agreement_threshold)
    changed = None
    if final_label is not None:
        changed = _differs(loads(final_label), loads(item.prediction_json), item.payload_json)
    now = now_ms()
    ctx.conn.execute(
        update(t.review_items)
        .where(t.review_items.c.id == item.id)
        .values(
            status="done",
            final_label_json=final_label,
            final_rating=statistics.fmean(ratings) if ratings else None,
            agreement=agreement,
            low_agreement=low,
            changed=changed,
            completed_at=now,
            updated_at=now,
        )
    )
    if final_label is not None and item.source == "endpoint" and item.target:
        _attach_label(ctx, item, loads(final_label), queue.name, now)


def _attach_label(ctx: Context, item: Any, label: Any, queue: str, now: int) -> None:
    """The final label as ground truth of the item's request (the inference log's labels)."""
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.labels import attach_labels
    from mloop.store.eventlog.transaction import InTransaction

    attach_labels(
        InTransaction(ctx),  # type: ignore[arg-type]
        SOURCE,
        [{"request_id": item.request_id, "label": label, "time": now}],
        origin=f"{LABEL_ORIGIN}:{queue}",
    )
