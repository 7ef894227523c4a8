"""The review SDK: queues, policies and answers as plain functions (``import mloop.review``).

Each function is one operation of the review API, called embedded or against a server as
the tracking URI says (:class:`mloop.client.client.Client`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mloop.review.schemas import (
    Claimed,
    Comment,
    ItemDetail,
    ItemsAdded,
    LabelCount,
    Queue,
    QueueStats,
    ReviewItem,
    RoutingPolicy,
    SamplingPolicy,
    SamplingRun,
    Submitted,
)


def _call(operation: str, /, **fields: Any) -> Any:
    from mloop.client.client import Client

    return Client().call(operation, **fields)


def create_queue(name: str, **spec: Any) -> Queue:
    """Create a review queue (see :class:`~mloop.review.schemas.QueueSpec` for ``spec``)."""
    return _call("create_review_queue", name=name, **spec)


def get_queue(name: str) -> Queue:
    return _call("get_review_queue", name=name)


def list_queues() -> list[Queue]:
    return list(_call("list_review_queues").queues)


def route(endpoint: str, queue: str, **policy: Any) -> RoutingPolicy:
    """Route an endpoint's doubtful predictions to ``queue`` (threshold, criterion,
    class_thresholds, on_route, fallback, max_share: :class:`~mloop.review.schemas.RoutingSpec`)."""
    return _call("set_review_routing", endpoint=endpoint, queue=queue, **policy)


def sample(
    queue: str,
    *,
    endpoint: str | None = None,
    route: str | None = None,
    per_day: int | None = None,
    rate: float | None = None,
) -> SamplingPolicy:
    """Sample ``per_day`` cases a day (or a ``rate``) of an endpoint or gateway route."""
    return _call(
        "set_review_sampling",
        queue=queue,
        endpoint=endpoint,
        route=route,
        per_day=per_day,
        rate=rate,
    )


def run_sampling(policy: int | None = None, *, until: int | None = None) -> SamplingRun:
    """Sample the ended hours not sampled yet now, instead of waiting for the server."""
    return _call("run_review_sampling", id=policy, until=until)


def add_items(queue: str, items: Sequence[dict[str, Any]]) -> ItemsAdded:
    """Add cases (dicts of :class:`~mloop.review.schemas.NewItem`'s fields), 1,000 a call."""
    added = existing = 0
    ids: list[int] = []
    for start in range(0, len(items), 1000):
        result = _call("add_review_items", queue=queue, items=list(items[start : start + 1000]))
        added += result.added
        existing += result.existing
        ids += result.ids
    return ItemsAdded(added=added, existing=existing, ids=ids)


def next_item(queue: str) -> Claimed:
    """Claim the next case of ``queue`` for the caller (``.item`` None when none is left)."""
    return _call("next_review_item", queue=queue)


def submit(
    item: int, label: Any = None, *, rating: int | None = None, comment: str = ""
) -> Submitted:
    """Answer a case; the same answer again is a no-op, a different one is refused."""
    return _call("submit_review_answer", id=item, label=label, rating=rating, comment=comment)


def skip(item: int) -> ReviewItem:
    return _call("skip_review_item", id=item)


def release(item: int) -> ReviewItem:
    return _call("release_review_item", id=item)


def escalate(item: int, note: str = "") -> ReviewItem:
    return _call("escalate_review_item", id=item, note=note)


def resolve(
    item: int, label: Any = None, *, rating: int | None = None, comment: str = ""
) -> Submitted:
    """A lead's final answer to an escalated case (writer role)."""
    return _call("resolve_review_item", id=item, label=label, rating=rating, comment=comment)


def comment(item: int, text: str) -> Comment:
    return _call("add_review_comment", id=item, text=text)


def get_item(item: int) -> ItemDetail:
    return _call("get_review_item", id=item)


def item_for_request(request_id: str, queue: str | None = None) -> ItemDetail:
    """The case of a request id (what a caller answered ``pending`` polls)."""
    return _call("get_review_item_by_request", request_id=request_id, queue=queue)


def list_items(queue: str, **filters: Any) -> Iterator[ReviewItem]:
    """Every item of a queue matching ``filters`` (status, reason, low_agreement, changed,
    answered_by), newest first, page by page."""
    token = None
    while True:
        page = _call(
            "list_review_items", queue=queue, page_token=token, max_results=1000, **filters
        )
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


def stats(queue: str, days: int = 14) -> QueueStats:
    return _call("get_review_queue_stats", name=queue, days=days)


def count_labels(queue: str, since: int = 0) -> LabelCount:
    """Cases completed after ``since`` (ms): the new labels a retraining waits for."""
    return _call("count_review_labels", queue=queue, since=since)
