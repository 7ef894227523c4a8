"""Review items: adding cases to a queue, reading them, assigning them, commenting.

Cases arrive three ways: routed by an endpoint's routing policy (:mod:`mloop.review.routing`),
sampled from an endpoint's or gateway route's traffic (:mod:`mloop.review.sampling`), or
added through ``add_review_items`` (by hand, or imported with answers given elsewhere). A
queue holds one item per request id: a request both routed and sampled is reviewed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, insert, select, update

from mloop.core.errors import PayloadTooLargeError, ValidationError
from mloop.core.ids import new_id
from mloop.core.naming import check_asset_name, decode_page_token, encode_page_token
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.review import tables as t
from mloop.review.ops import operations
from mloop.review.records import (
    answer_message,
    dumps,
    item_message,
    load_item_row,
    load_queue_by_id,
    load_queue_row,
    queue_names,
)
from mloop.review.schemas import (
    AddComment,
    AddItems,
    AnswerList,
    Assigned,
    AssignItems,
    Comment,
    Hold,
    ItemByRequest,
    ItemDetail,
    ItemList,
    ItemRef,
    ItemsAdded,
    ListAnswers,
    ListItems,
    NewItem,
    ReviewItem,
)
from mloop.store.context import Context

MAX_PAYLOAD_BYTES = 1_000_000
"""The JSON of one item's payload and prediction: a case a person reads, not a data file."""


def sort_key(priority: str, confidence: float | None) -> float:
    """Lower is served first: the confidence (unknown last), or 0 so that the oldest (the
    lowest id) comes first."""
    if priority == "oldest":
        return 0.0
    return 1.0 if confidence is None else float(confidence)


def enqueue(ctx: Context, queue: Any, items: Sequence[NewItem]) -> ItemsAdded:
    """Add ``items`` to ``queue`` (a queue row) in the caller's transaction; request ids the
    queue already holds are not added again."""
    from mloop.review.answers import check_answer, record_imported

    i = t.review_items.c
    wanted = [item.request_id or new_id() for item in items]
    existing = dict(
        ctx.conn.execute(
            select(i.request_id, i.id).where(i.queue_id == queue.id, i.request_id.in_(wanted))
        ).all()
    )
    now = now_ms()
    ids: list[int] = []
    added = 0
    seen: dict[str, int] = {}
    for index, (item, request_id) in enumerate(zip(items, wanted, strict=True)):
        known = existing.get(request_id, seen.get(request_id))
        if known is not None:
            ids.append(known)
            continue
        _check_item(item, index)
        payload = dumps(item.payload)
        prediction = None if item.prediction is None else dumps(item.prediction)
        if len(payload) + len(prediction or "") > MAX_PAYLOAD_BYTES:
            raise PayloadTooLargeError(
                f"items[{index}] is {len(payload) + len(prediction or ''):,} bytes of JSON; "
                f"an item holds at most {MAX_PAYLOAD_BYTES:,} (a case a person reads)",
                field=f"items[{index}].payload",
            )
        for j, answer in enumerate(item.answers):
            check_answer(
                queue, item.payload, answer.label, answer.rating, f"items[{index}].answers[{j}]"
            )
        key = sort_key(queue.priority, item.confidence)
        item_id = ctx.conn.execute(
            insert(t.review_items).values(
                queue_id=queue.id,
                source=item.source,
                target=item.target,
                request_id=request_id,
                reason=item.reason,
                payload_json=payload,
                prediction_json=prediction,
                confidence=item.confidence,
                model_name=item.model_name,
                model_version=item.model_version,
                variant=item.variant,
                prompt_name=item.prompt_name,
                prompt_version=item.prompt_version,
                status="open",
                sort_key=key,
                answers_needed=queue.overlap,
                answers_count=0,
                low_agreement=False,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        ctx.conn.execute(
            insert(t.review_slots),
            [
                {
                    "item_id": item_id,
                    "slot": slot,
                    "queue_id": queue.id,
                    "sort_key": key,
                    "state": "open",
                }
                for slot in range(queue.overlap)
            ],
        )
        if item.answers:
            record_imported(ctx, queue, item_id, item.answers)
        seen[request_id] = item_id
        ids.append(item_id)
        added += 1
    return ItemsAdded(added=added, existing=len(items) - added, ids=ids)


def _check_item(item: NewItem, index: int) -> None:
    where = f"items[{index}]"
    if item.request_id is not None:
        check_text(item.request_id, f"{where}.request_id", max_length=256)
    check_text(item.target, f"{where}.target", max_length=256)
    for key in ("model_name", "prompt_name"):
        value = getattr(item, key)
        if value is not None:
            check_asset_name(value, f"{where}.{key}")
    if len({a.reviewer for a in item.answers}) != len(item.answers):
        raise ValidationError(f"{where}.answers has two answers by one reviewer", field=where)


@operations.post("/items/add", AddItems, ItemsAdded)
def add_review_items(ctx: Context, req: AddItems) -> ItemsAdded:
    """Add cases to a queue (by hand, or imported with the answers given elsewhere)."""
    queue = load_queue_row(ctx, req.queue)
    return enqueue(ctx, queue, req.items)


@operations.get("/items/get", ItemRef, ItemDetail, role="review_read")
def get_review_item(ctx: Context, req: ItemRef) -> ItemDetail:
    """One item with its answers, comments and current holders."""
    return item_detail(ctx, load_item_row(ctx, req.id))


def item_detail(ctx: Context, row: Any) -> ItemDetail:
    queue = load_queue_by_id(ctx, row.queue_id)
    answers = ctx.conn.execute(
        select(t.review_answers)
        .where(t.review_answers.c.item_id == row.id)
        .order_by(t.review_answers.c.id)
    )
    comments = ctx.conn.execute(
        select(t.review_comments)
        .where(t.review_comments.c.item_id == row.id)
        .order_by(t.review_comments.c.id)
    )
    s = t.review_slots.c
    holds = ctx.conn.execute(
        select(t.review_slots)
        .where(s.item_id == row.id, s.state == "claimed", s.lease_expires_at > now_ms())
        .order_by(s.slot)
    )
    return ItemDetail(
        item=item_message(row, queue.name),
        answers=[answer_message(a) for a in answers],
        comments=[
            Comment(
                id=c.id, item_id=c.item_id, author=c.author, text=c.text, created_at=c.created_at
            )
            for c in comments
        ],
        holders=[
            Hold(
                slot=h.slot,
                reviewer=h.reviewer,
                claimed_at=h.claimed_at,
                lease_expires_at=h.lease_expires_at,
            )
            for h in holds
        ],
    )


@operations.get("/items/by-request", ItemByRequest, ItemDetail, role="review_read", quick=True)
def get_review_item_by_request(ctx: Context, req: ItemByRequest) -> ItemDetail:
    """The item of a request id: what a caller answered ``pending`` polls."""
    from mloop.core.errors import NotFoundError

    request_id = check_text(req.request_id, "request_id", max_length=256)
    i = t.review_items.c
    query = select(t.review_items).where(i.request_id == request_id)
    if req.queue is not None:
        query = query.where(i.queue_id == load_queue_row(ctx, req.queue).id)
    row = ctx.conn.execute(query.order_by(i.id).limit(1)).first()
    if row is None:
        raise NotFoundError(
            f"no review item has request id {request_id!r} (yet)", field="request_id"
        )
    return item_detail(ctx, row)


@operations.get("/items/list", ListItems, ItemList, role="review_read")
def list_review_items(ctx: Context, req: ListItems) -> ItemList:
    """A queue's items, newest first, by status, reason, agreement, change or reviewer."""
    queue = load_queue_row(ctx, req.queue)
    i = t.review_items.c
    query = select(t.review_items).where(i.queue_id == queue.id)
    if req.status is not None:
        query = query.where(i.status == req.status)
    if req.reason is not None:
        query = query.where(i.reason == req.reason)
    if req.low_agreement is not None:
        query = query.where(i.low_agreement == req.low_agreement)
    if req.changed is not None:
        query = query.where(i.changed == req.changed)
    if req.answered_by is not None:
        a = t.review_answers.c
        reviewer = check_text(req.answered_by, "answered_by", max_length=256)
        query = query.where(
            i.id.in_(select(a.item_id).where(a.queue_id == queue.id, a.reviewer == reviewer))
        )
    offset = decode_page_token(req.page_token)
    rows = list(
        ctx.conn.execute(query.order_by(i.id.desc()).limit(req.max_results + 1).offset(offset))
    )
    more = len(rows) > req.max_results
    return ItemList(
        items=[item_message(r, queue.name) for r in rows[: req.max_results]],
        next_page_token=encode_page_token(offset + req.max_results) if more else None,
    )


def items_by_id(ctx: Context, ids: Sequence[int]) -> list[ReviewItem]:
    rows = list(ctx.conn.execute(select(t.review_items).where(t.review_items.c.id.in_(ids))))
    names = queue_names(ctx, {r.queue_id for r in rows})
    return [item_message(r, names[r.queue_id]) for r in rows]


@operations.post("/items/assign", AssignItems, Assigned)
def assign_review_items(ctx: Context, req: AssignItems) -> Assigned:
    """Give open items to one reviewer (only they are offered them), or back to everyone."""
    queue = load_queue_row(ctx, req.queue)
    i = t.review_items.c
    if req.reviewer is not None:
        check_text(req.reviewer, "reviewer", max_length=256)
    condition = and_(i.queue_id == queue.id, i.status == "open")
    if req.ids:
        found = {
            r.id: r.queue_id
            for r in ctx.conn.execute(select(i.id, i.queue_id).where(i.id.in_(req.ids)))
        }
        missing = [n for n in req.ids if n not in found]
        other = [n for n in req.ids if n in found and found[n] != queue.id]
        if missing or other:
            from mloop.core.errors import NotFoundError

            raise NotFoundError(
                f"queue {queue.name!r} has no item {(missing or other)[0]}", field="ids"
            )
        condition = and_(condition, i.id.in_(req.ids))
    else:
        condition = and_(condition, i.assignee.is_(None))
    result = ctx.conn.execute(
        update(t.review_items).where(condition).values(assignee=req.reviewer, updated_at=now_ms())
    )
    return Assigned(assigned=result.rowcount)


@operations.post("/items/comment", AddComment, Comment, role="reviewer")
def add_review_comment(ctx: Context, req: AddComment) -> Comment:
    """Comment on an item (a question for the lead, a note for the next reviewer)."""
    row = load_item_row(ctx, req.id)
    text = check_text(req.text, "text", max_length=10_000)
    if not text.strip():
        raise ValidationError("text is empty", field="text")
    now = now_ms()
    comment_id = ctx.conn.execute(
        insert(t.review_comments).values(
            item_id=row.id, author=ctx.actor, text=text, created_at=now
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return Comment(id=comment_id, item_id=row.id, author=ctx.actor, text=text, created_at=now)


@operations.post("/answers/list", ListAnswers, AnswerList, role="review_read")
def list_review_answers(ctx: Context, req: ListAnswers) -> AnswerList:
    """The answers of up to 1,000 items of a queue in one read (exports page through them)."""
    queue = load_queue_row(ctx, req.queue)
    if not req.ids:
        return AnswerList(answers=[])
    a = t.review_answers.c
    rows = ctx.conn.execute(
        select(t.review_answers)
        .where(a.queue_id == queue.id, a.item_id.in_(req.ids))
        .order_by(a.item_id, a.id)
    )
    return AnswerList(answers=[answer_message(r) for r in rows])


def item_ids_for_requests(ctx: Context, request_ids: Sequence[str]) -> dict[str, int]:
    """The review item of each request id that has one (the first made, when several queues
    hold the request): what a page of the inference log links to."""
    if not request_ids:
        return {}
    i = t.review_items.c
    found: dict[str, int] = {}
    # Naming every queue lets the (queue, request id) index answer: there are few queues.
    queues = select(t.review_queues.c.id).scalar_subquery()
    rows = ctx.conn.execute(
        select(i.request_id, i.id)
        .where(i.queue_id.in_(queues), i.request_id.in_(list(request_ids)))
        .order_by(i.id)
    )
    for request_id, item_id in rows:
        found.setdefault(request_id, item_id)
    return found
