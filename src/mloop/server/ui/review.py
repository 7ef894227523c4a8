"""Review pages: the queues with their backlog and throughput; one queue's dashboard (daily
counts, time per answer, agreement, how often reviewers changed the model's answer, the
reviewers, the policies feeding it and its items); the review page, where a reviewer works
through a queue from the keyboard; and one item with its answers, comments and, for a lead,
the form that resolves an escalated case.

The review page never changes anything on a GET: it shows the item the viewer holds
(``?item=``), or a Start button that claims the next one with a POST (its script presses
it on arrival, so a reviewer lands on a case). Submit, Skip and Escalate post too, and the
server answers with a redirect to the next item it claimed for the viewer, so one key (and
one round trip) moves on. An answer the queue cannot take is shown on the page again with
the reason, and nothing is stored.

Reading needs ``review_read`` (readers and reviewers); answering, skipping, escalating and
commenting need the reviewer role (writers and above hold it too), and a queue that lists
its reviewers takes only them; resolving an escalated item needs the writer role. The
viewer's name is the reviewer's. Forms from other sites are refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Identity
from mloop.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from mloop.core.naming import check_asset_name
from mloop.core.roles import Role, role_allows
from mloop.core.timeutil import now_ms
from mloop.core.validation import from_pydantic
from mloop.review.answers import resolve_review_item, rows_of, submit_review_answer
from mloop.review.claims import (
    escalate_review_item,
    next_review_item,
    release_review_item,
    skip_review_item,
)
from mloop.review.dashboard import count_review_labels, get_review_queue_stats
from mloop.review.items import add_review_comment, get_review_item, list_review_items
from mloop.review.policies import list_review_policies
from mloop.review.queues import get_review_queue, list_review_queues
from mloop.review.schemas import (
    MAX_ID,
    AddComment,
    Claimed,
    CountLabels,
    EscalateItem,
    GetQueueStats,
    ItemDetail,
    ItemRef,
    ListItems,
    ListPolicies,
    ListQueues,
    NextItem,
    Queue,
    QueueName,
    ResolveItem,
    SubmitAnswer,
)
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.server.ui.params import checked_name
from mloop.server.ui.review_views import (
    MAX_ROWS,
    case_view,
    choices_of,
    daily_chart,
    picks,
    read_answer,
    sparkline,
)
from mloop.store.context import Context

M = TypeVar("M", bound=pydantic.BaseModel)

MAX_QUEUES = 200  # queues listed
ITEMS_PER_PAGE = 50  # items of a queue's dashboard
STATS_DAYS = 14  # days of the charts
DAY_MS = 86_400_000
MAX_FORM_BYTES = 64_000  # an answer: a written answer, a comment and a label per row
MAX_FORM_FIELDS = MAX_ROWS + 10
DONE = ("answered", "skipped", "escalated")  # what ``?did=`` may say of the last item
_FLAGS = {"": None, "true": True, "false": False}


# -- parameters ----------------------------------------------------------------------------


def _checked_queue(raw: str) -> str:
    """A name a queue could have; anything else names no queue (404, not 400)."""
    return checked_name(
        raw, lambda value: check_asset_name(value, "name", what="queue name"), "review queue"
    )


def _checked_item(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise NotFoundError(f"review item {raw[:20]!r} does not exist", field="id")
    return int(raw)


def _query_id(raw: str, field: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise ValidationError(f"{field} must be an item id, got {raw[:20]!r}", field=field)
    return int(raw)


def _flag(raw: str, field: str) -> bool | None:
    if raw not in _FLAGS:
        raise ValidationError(f"{field} must be true or false, got {raw[:20]!r}", field=field)
    return _FLAGS[raw]


def _did(raw: str) -> str | None:
    if raw and raw not in DONE:
        raise ValidationError(
            f"did must be one of {', '.join(DONE)}, got {raw[:20]!r}", field="did"
        )
    return raw or None


def _message(cls: type[M], **fields: Any) -> M:
    """A request message, its first problem raised as an error naming the field."""
    try:
        return cls(**fields)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None


# -- who may do what -----------------------------------------------------------------------


def review_refusal(viewer: Identity, queue: Queue) -> str | None:
    """Why ``viewer`` may not answer ``queue``'s items, or None."""
    if not role_allows(viewer.role, "reviewer"):
        return (
            f"answering needs the reviewer role (writers and above hold it too); "
            f"{viewer.name!r} has the {viewer.role} role"
        )
    if queue.reviewers and viewer.name not in queue.reviewers:
        return (
            f"{viewer.name!r} is not a reviewer of queue {queue.name!r}; its reviewers are "
            f"{', '.join(queue.reviewers)}"
        )
    return None


def resolve_refusal(viewer: Identity) -> str | None:
    """Why ``viewer`` may not resolve an item (a lead's final answer), or None."""
    if not role_allows(viewer.role, "writer"):
        return (
            f"resolving needs the writer role (a lead); {viewer.name!r} has the {viewer.role} role"
        )
    return None


def _can_read(viewer: Identity) -> bool:
    """Whether the viewer may open the pages a case links to (models, endpoints...)."""
    return role_allows(viewer.role, "reader")


# -- reads ---------------------------------------------------------------------------------


def completed_per_day(ctx: Context, queue: str, now: int, days: int = STATS_DAYS) -> list[int]:
    """Items of ``queue`` completed on each of the last ``days`` UTC days, oldest first.

    Counted from the labels counts since each day's start (an index range each): unlike the
    queue's full statistics, the cost does not grow with the queue's history.
    """
    today = now - now % DAY_MS
    since = [
        count_review_labels(ctx, CountLabels(queue=queue, since=today - k * DAY_MS - 1)).count
        for k in range(days - 1, -1, -1)
    ]
    return [a - b for a, b in zip(since, [*since[1:], 0], strict=True)]


def _queues_page(ctx: Context, now: int) -> dict[str, Any]:
    rows = []
    for queue in list_review_queues(ctx, ListQueues(max_results=MAX_QUEUES)).queues:
        rows.append({"queue": queue, "spark": sparkline(completed_per_day(ctx, queue.name, now))})
    return {"queues": rows}


def _items_request(
    name: str, status: str, reason: str, low_agreement: str, changed: str, page_token: str
) -> tuple[ListItems, dict[str, Any]]:
    """The dashboard's item filters as a request, and as the form shows them."""
    chosen = {
        "status": status or None,
        "reason": reason or None,
        "low_agreement": _flag(low_agreement, "low_agreement"),
        "changed": _flag(changed, "changed"),
    }
    request = _message(
        ListItems,
        queue=name,
        max_results=ITEMS_PER_PAGE,
        page_token=page_token or None,
        **chosen,
    )
    return request, chosen


def _queue_page(ctx: Context, name: str, items: ListItems) -> dict[str, Any]:
    queue = get_review_queue(ctx, QueueName(name=name))
    stats = get_review_queue_stats(ctx, GetQueueStats(name=queue.name, days=STATS_DAYS))
    data: dict[str, Any] = {
        "queue": queue,
        "stats": stats,
        "chart": daily_chart(stats.days),
        "policies": list_review_policies(ctx, ListPolicies(queue=queue.name)),
        "items": [],
        "next_page_token": None,
        "error": None,
    }
    try:
        found = list_review_items(ctx, items)
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return {**data, "error": exc.message}
    return {**data, "items": found.items, "next_page_token": found.next_page_token}


def _work_page(ctx: Context, name: str, item_id: int | None, viewer: str) -> dict[str, Any]:
    """The queue, and the item asked for with whether ``viewer`` holds it now."""
    queue = get_review_queue(ctx, QueueName(name=name))
    data: dict[str, Any] = {"queue": queue, "detail": None, "held": None}
    if item_id is None:
        return data
    detail = get_review_item(ctx, ItemRef(id=item_id))
    if detail.item.queue != queue.name:
        raise NotFoundError(f"queue {queue.name!r} has no item {item_id}", field="item")
    mine = [h for h in detail.holders if h.reviewer == viewer]
    held = mine[0] if mine and detail.item.status == "open" else None
    return {**data, "detail": detail, "held": held}


def _item_page(ctx: Context, item_id: int) -> dict[str, Any]:
    detail = get_review_item(ctx, ItemRef(id=item_id))
    return {"detail": detail, "queue": get_review_queue(ctx, QueueName(name=detail.item.queue))}


def _item_and_queue(ctx: Context, item_id: int) -> tuple[ItemDetail, Queue]:
    detail = get_review_item(ctx, ItemRef(id=item_id))
    return detail, get_review_queue(ctx, QueueName(name=detail.item.queue))


# -- posts ---------------------------------------------------------------------------------


async def _checked_post(ui: UI, request: Request, role: Role) -> Identity:
    if not same_origin(request):
        raise PermissionDeniedError("cross-site posts are refused", field="Origin")
    identity: Identity = await run_in_threadpool(ui.auth.require, request, role)
    return identity


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError(f"the form is larger than {MAX_FORM_BYTES:,} bytes", field="comment")
    return parse_form(body, max_fields=MAX_FORM_FIELDS)


def _after(claimed: Claimed, queue: str, last: int, did: str) -> RedirectResponse:
    """To the next item claimed (or the empty queue), saying what became of the last one."""
    if claimed.item is None:
        url = links.review_work(queue, last=last, did=did, empty=True)
    else:
        url = links.review_work(queue, item=claimed.item.id, last=last, did=did)
    return RedirectResponse(url, status_code=303)


def _claim(queue: str) -> Callable[[Context], Claimed]:
    return lambda ctx: next_review_item(ctx, NextItem(queue=queue))


# -- routes --------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    def viewer_of(request: Request) -> Identity:
        return ui.auth.require(request, "review_read")

    async def write(identity: Identity, fn: Callable[[Context], Any]) -> Any:
        return await run_in_threadpool(ui.runtime.run, fn, write=True, actor=identity.name)

    def render_work(
        request: Request,
        viewer: Identity,
        data: dict[str, Any],
        *,
        status_code: int = 200,
        error: str | None = None,
        picked: dict[str, str] | None = None,
        last: int | None = None,
        did: str | None = None,
        empty: bool = False,
    ) -> HTMLResponse:
        queue: Queue = data["queue"]
        detail: ItemDetail | None = data["detail"]
        refusal = review_refusal(viewer, queue)
        # A refused answer shows its case again, held or not, so it can be corrected.
        show = (
            detail is not None
            and detail.item.status == "open"
            and (data["held"] is not None or error is not None)
        )
        return ui.render(
            request,
            "review_work.html",
            viewer,
            status_code=status_code,
            section="review_queues",
            queue=queue,
            detail=detail,
            held=data["held"],
            show_case=show and refusal is None,
            case=case_view(detail.item) if detail is not None else None,
            choices=choices_of(queue),
            refusal=refusal,
            can_read=_can_read(viewer),
            error=error,
            picked=picked or {},
            last=last,
            did=did,
            empty=empty,
        )

    @r.get("/review", response_class=HTMLResponse, name="ui_review_queues")
    def queues_page(request: Request) -> HTMLResponse:
        viewer = viewer_of(request)
        now = now_ms()
        data = ui.read(lambda ctx: _queues_page(ctx, now), viewer)
        return ui.render(
            request,
            "review_queues.html",
            viewer,
            section="review_queues",
            can_review=role_allows(viewer.role, "reviewer"),
            **data,
        )

    @r.get("/review/{queue}/work", response_class=HTMLResponse, name="ui_review_work")
    def work_page(
        request: Request,
        queue: str,
        item: str = Query("", max_length=12),
        last: str = Query("", max_length=12),
        did: str = Query("", max_length=20),
        empty: str = Query("", max_length=5),
    ) -> HTMLResponse:
        viewer = viewer_of(request)
        name = _checked_queue(queue)
        item_id = _query_id(item, "item")
        data = ui.read(lambda ctx: _work_page(ctx, name, item_id, viewer.name), viewer)
        return render_work(
            request,
            viewer,
            data,
            last=_query_id(last, "last"),
            did=_did(did),
            empty=bool(_flag(empty, "empty")),
        )

    @r.get("/review/{queue}", response_class=HTMLResponse, name="ui_review_queue")
    def queue_page(
        request: Request,
        queue: str,
        status: str = Query("", max_length=20),
        reason: str = Query("", max_length=20),
        low_agreement: str = Query("", max_length=5),
        changed: str = Query("", max_length=5),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = viewer_of(request)
        name = _checked_queue(queue)
        items, chosen = _items_request(name, status, reason, low_agreement, changed, page_token)
        data = ui.read(lambda ctx: _queue_page(ctx, name, items), viewer)
        return ui.render(
            request,
            "review_queue.html",
            viewer,
            status_code=400 if data["error"] else 200,
            section="review_queues",
            filters=chosen,
            page_token=page_token,
            can_review=review_refusal(viewer, data["queue"]) is None,
            can_read=_can_read(viewer),
            **data,
        )

    @r.get("/review/items/{item_id}", response_class=HTMLResponse, name="ui_review_item")
    def item_page(request: Request, item_id: str) -> HTMLResponse:
        viewer = viewer_of(request)
        number = _checked_item(item_id)
        data = ui.read(lambda ctx: _item_page(ctx, number), viewer)
        detail: ItemDetail = data["detail"]
        return ui.render(
            request,
            "review_item.html",
            viewer,
            section="review_queues",
            case=case_view(detail.item),
            choices=choices_of(data["queue"]),
            can_comment=role_allows(viewer.role, "reviewer"),
            resolve_refused=resolve_refusal(viewer),
            can_read=_can_read(viewer),
            picked={},
            **data,
        )

    @r.post("/review/{queue}/claim", name="ui_review_claim")
    async def claim_submit(request: Request, queue: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        name = _checked_queue(queue)
        claimed: Claimed = await write(identity, _claim(name))
        if claimed.item is None:
            return RedirectResponse(links.review_work(name, empty=True), status_code=303)
        return RedirectResponse(links.review_work(name, item=claimed.item.id), status_code=303)

    @r.post("/review/items/{item_id}/answer", name="ui_review_answer")
    async def answer_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        number = _checked_item(item_id)
        form = await _form(request)
        detail, queue = await run_in_threadpool(
            ui.read, lambda ctx: _item_and_queue(ctx, number), identity
        )
        rows = rows_of(detail.item.payload)
        picked = picks(form, rows)
        try:
            answer = read_answer(picked, queue, rows)
            request_message = _message(
                SubmitAnswer,
                id=number,
                label=answer.label,
                rating=answer.rating,
                comment=answer.comment,
            )
            await write(identity, lambda ctx: submit_review_answer(ctx, request_message))
        except (ValidationError, ConflictError) as exc:
            data = await run_in_threadpool(
                ui.read, lambda ctx: _work_page(ctx, queue.name, number, identity.name), identity
            )
            return render_work(
                request,
                identity,
                data,
                status_code=exc.http_status,
                error=exc.message,
                picked=picked,
            )
        claimed = await write(identity, _claim(queue.name))
        return _after(claimed, queue.name, number, "answered")

    @r.post("/review/items/{item_id}/skip", name="ui_review_skip")
    async def skip_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        number = _checked_item(item_id)

        def skip(ctx: Context) -> str:
            return skip_review_item(ctx, ItemRef(id=number)).queue

        name = await write(identity, skip)
        claimed = await write(identity, _claim(name))
        return _after(claimed, name, number, "skipped")

    @r.post("/review/items/{item_id}/escalate", name="ui_review_escalate")
    async def escalate_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        number = _checked_item(item_id)
        note = form_field(await _form(request), "note").strip()
        message = _message(EscalateItem, id=number, note=note)
        item = await write(identity, lambda ctx: escalate_review_item(ctx, message))
        claimed = await write(identity, _claim(item.queue))
        return _after(claimed, item.queue, number, "escalated")

    @r.post("/review/items/{item_id}/release", name="ui_review_release")
    async def release_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        number = _checked_item(item_id)
        _detail, queue = await run_in_threadpool(
            ui.read, lambda ctx: _item_and_queue(ctx, number), identity
        )
        # Not held any more (its lease ran out, or it was answered): nothing to give back.
        with contextlib.suppress(ConflictError):
            await write(identity, lambda ctx: release_review_item(ctx, ItemRef(id=number)))
        return RedirectResponse(links.review_queue(queue.name), status_code=303)

    @r.post("/review/items/{item_id}/comment", name="ui_review_comment")
    async def comment_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "reviewer")
        number = _checked_item(item_id)
        text = form_field(await _form(request), "text").strip()
        message = _message(AddComment, id=number, text=text)
        comment = await write(identity, lambda ctx: add_review_comment(ctx, message))
        return RedirectResponse(
            links.review_item(number) + f"#comment-{comment.id}", status_code=303
        )

    @r.post("/review/items/{item_id}/resolve", name="ui_review_resolve")
    async def resolve_submit(request: Request, item_id: str) -> Response:
        identity = await _checked_post(ui, request, "writer")
        number = _checked_item(item_id)
        form = await _form(request)
        detail, queue = await run_in_threadpool(
            ui.read, lambda ctx: _item_and_queue(ctx, number), identity
        )
        rows = rows_of(detail.item.payload)
        answer = read_answer(picks(form, rows), queue, rows)
        message = _message(
            ResolveItem, id=number, label=answer.label, rating=answer.rating, comment=answer.comment
        )
        await write(identity, lambda ctx: resolve_review_item(ctx, message))
        return RedirectResponse(links.review_item(number) + "#answers", status_code=303)

    return r
