"""Review queues and items: creating, changing and deleting queues (and the input they
refuse), adding items (one per request id, size limit, imported answers), listing with
filters and pages, assignment, comments and the lookup by request id."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.core.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from mloop.store.runtime import Runtime
from tests.review.review_testing import add_cases, answer, call, make_queue, take

# -- queues ------------------------------------------------------------------------------


def test_create_get_list_update_delete(runtime: Runtime) -> None:
    made = make_queue(
        runtime,
        "loans",
        description="doubtful loan decisions",
        overlap=2,
        reviewers=["ann", "bob"],
        priority="oldest",
    )
    assert (made.name, made.choices, made.overlap, made.priority) == (
        "loans",
        ["approve", "reject"],
        2,
        "oldest",
    )
    assert made.created_by == "lead" and made.counts.open == 0
    make_queue(runtime, "chats", choices=[], free_text=True, rating_scale=5)
    names = [q.name for q in call(runtime, "list_review_queues").queues]
    assert names == ["chats", "loans"]
    assert [q.name for q in call(runtime, "list_review_queues", max_results=1).queues] == ["chats"]

    add_cases(runtime, "loans", 3)
    changed = call(
        runtime,
        "update_review_queue",
        name="loans",
        instructions="read the income first",
        reviewers=["ann"],
        lease_seconds=60,
        agreement_threshold=0.8,
    )
    assert (changed.instructions, changed.reviewers, changed.lease_seconds) == (
        "read the income first",
        ["ann"],
        60,
    )
    assert changed.agreement_threshold == 0.8
    # What was not given stays; counts come with the queue.
    assert changed.description == "doubtful loan decisions" and changed.priority == "oldest"
    assert changed.counts.open == 3

    call(runtime, "delete_review_queue", name="loans")
    with pytest.raises(NotFoundError, match="review queue 'loans' does not exist"):
        call(runtime, "get_review_queue", name="loans")
    assert [q.name for q in call(runtime, "list_review_queues").queues] == ["chats"]
    # The deleted queue's items went with it.
    with pytest.raises(NotFoundError):
        call(runtime, "get_review_item_by_request", request_id="r0")


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"choices": []}, "choices", "needs something to answer"),
        ({"rating_scale": 1}, "rating_scale", "rating_scale must be 0"),
        ({"choices": ["yes", "no", "yes"]}, "choices", "given twice"),
        ({"choices": [1, 2, 1]}, "choices", "given twice"),
        ({"choices": ["yes", {"a": 1}]}, "choices[1]", "string, number or boolean"),
        ({"choices": [["a"]]}, "choices[0]", "string, number or boolean"),
        ({"choices": ["a", None]}, "choices[1]", "string, number or boolean"),
        ({"reviewers": ["ann", "bob", "ann"]}, "reviewers", "lists a name twice"),
        ({"reviewers": ["  "]}, "reviewers[0]", "is empty"),
        ({"overlap": 0}, "overlap", None),
        ({"lease_seconds": 5}, "lease_seconds", None),
        ({"priority": "random"}, "priority", None),
    ],
)
def test_create_refuses_bad_queues(
    runtime: Runtime, spec: dict[str, Any], field: str, message: str | None
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        make_queue(runtime, "bad", **spec)
    assert caught.value.field == field
    assert call(runtime, "list_review_queues").queues == []


def test_unknown_queue_is_404_and_a_used_name_409(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    with pytest.raises(ConflictError, match="'loans' already exists") as caught:
        make_queue(runtime, "loans", choices=["x"])
    assert caught.value.field == "name"
    # The first queue is untouched.
    assert call(runtime, "get_review_queue", name="loans").choices == ["approve", "reject"]
    unknown: list[tuple[str, dict[str, Any]]] = [
        ("get_review_queue", {"name": "nope"}),
        ("update_review_queue", {"name": "nope", "description": "x"}),
        ("delete_review_queue", {"name": "nope"}),
        ("add_review_items", {"queue": "nope", "items": [{"payload": {}}]}),
        ("list_review_items", {"queue": "nope"}),
        ("next_review_item", {"queue": "nope"}),
        ("assign_review_items", {"queue": "nope", "reviewer": "ann"}),
    ]
    for operation, fields in unknown:
        with pytest.raises(NotFoundError, match="review queue 'nope' does not exist"):
            call(runtime, operation, **fields)


def test_update_refuses_bad_reviewers(runtime: Runtime) -> None:
    make_queue(runtime, "loans", reviewers=["ann"])
    with pytest.raises(ValidationError, match="lists a name twice"):
        call(runtime, "update_review_queue", name="loans", reviewers=["bob", "bob"])
    with pytest.raises(ValidationError):
        call(runtime, "update_review_queue", name="loans", lease_seconds=1)
    assert call(runtime, "get_review_queue", name="loans").reviewers == ["ann"]
    # An empty list opens the queue to every reviewer again.
    assert call(runtime, "update_review_queue", name="loans", reviewers=[]).reviewers == []


# -- adding items ------------------------------------------------------------------------


def test_items_are_added_once_per_request_id(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    first = call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[
            {"request_id": "a", "payload": {"x": 1}},
            {"request_id": "b", "payload": {"x": 2}},
            {"request_id": "a", "payload": {"x": 3}},  # the same request within one call
        ],
    )
    assert (first.added, first.existing) == (2, 1)
    assert first.ids[0] == first.ids[2] != first.ids[1]
    again = call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[{"request_id": "b", "payload": {"x": 9}}, {"request_id": "c"}],
    )
    assert (again.added, again.existing) == (1, 1)
    assert again.ids[0] == first.ids[1]
    # The existing item kept its payload.
    detail = call(runtime, "get_review_item", id=first.ids[1])
    assert detail.item.payload == {"x": 2}
    assert call(runtime, "get_review_queue", name="loans").counts.open == 3
    # Without a request id every item is new (an id is made up for each).
    unnamed = call(
        runtime, "add_review_items", queue="loans", items=[{"payload": {}}, {"payload": {}}]
    )
    assert unnamed.added == 2 and len(set(unnamed.ids)) == 2
    # Another queue holds its own item for the same request.
    make_queue(runtime, "other")
    assert call(runtime, "add_review_items", queue="other", items=[{"request_id": "a"}]).added == 1


def test_an_item_keeps_what_it_was_given(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=3)
    ids = call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[
            {
                "request_id": "req-1",
                "source": "endpoint",
                "target": "loans-api",
                "payload": {"inputs": [{"income": 10}], "features": {"age": 30}},
                "prediction": "approve",
                "confidence": 0.55,
                "model_name": "loans",
                "model_version": 3,
                "variant": "stable",
                "reason": "confidence",
            }
        ],
    ).ids
    item = call(runtime, "get_review_item", id=ids[0]).item
    assert (item.source, item.target, item.request_id, item.reason) == (
        "endpoint",
        "loans-api",
        "req-1",
        "confidence",
    )
    assert item.payload == {"inputs": [{"income": 10}], "features": {"age": 30}}
    assert (item.prediction, item.confidence, item.model_name, item.model_version) == (
        "approve",
        0.55,
        "loans",
        3,
    )
    assert (item.status, item.answers_needed, item.answers_count) == ("open", 3, 0)


def test_an_oversized_item_is_413_and_adds_nothing(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    items = [
        {"request_id": "small", "payload": {"x": 1}},
        {"request_id": "big", "payload": {"text": "x" * 1_000_001}},
    ]
    with pytest.raises(PayloadTooLargeError, match="items\\[1\\]") as caught:
        call(runtime, "add_review_items", queue="loans", items=items)
    assert caught.value.http_status == 413
    # One transaction: the small item before it is not kept either.
    assert call(runtime, "list_review_items", queue="loans").items == []
    # The prediction counts toward the limit too.
    with pytest.raises(PayloadTooLargeError):
        call(
            runtime,
            "add_review_items",
            queue="loans",
            items=[{"payload": {"t": "x" * 600_000}, "prediction": "y" * 600_000}],
        )


def test_imported_answers_complete_an_item(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=2)
    added = call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[
            {
                "request_id": "full",
                "prediction": "approve",
                "reason": "import",
                "answers": [
                    {"reviewer": "x", "label": "reject", "created_at": 1000},
                    {"reviewer": "y", "label": "reject"},
                ],
            },
            {
                "request_id": "half",
                "prediction": "approve",
                "answers": [{"reviewer": "x", "label": "approve"}],
            },
        ],
    )
    full = call(runtime, "get_review_item", id=added.ids[0])
    assert full.item.status == "done"
    assert (full.item.final_label, full.item.changed, full.item.answers_count) == (
        "reject",
        True,
        2,
    )
    assert [(a.reviewer, a.label) for a in full.answers] == [("x", "reject"), ("y", "reject")]
    assert full.answers[0].created_at == 1000
    half = call(runtime, "get_review_item", id=added.ids[1]).item
    assert (half.status, half.answers_count) == ("open", 1)
    # The importer's reviewer already answered: only someone else takes the open slot.
    assert take(runtime, "loans", "x").item is None
    claimed = take(runtime, "loans", "z")
    assert claimed.item is not None and claimed.item.id == added.ids[1]
    done = answer(runtime, added.ids[1], "z", "approve").item
    assert (done.status, done.final_label, done.changed) == ("done", "approve", False)


def test_imported_answers_are_checked(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    with pytest.raises(ValidationError, match="not one of") as caught:
        call(
            runtime,
            "add_review_items",
            queue="loans",
            items=[{"answers": [{"reviewer": "x", "label": "maybe"}]}],
        )
    assert caught.value.field == "items[0].answers[0].label"
    with pytest.raises(ValidationError, match="two answers by one reviewer"):
        call(
            runtime,
            "add_review_items",
            queue="loans",
            items=[
                {
                    "answers": [
                        {"reviewer": "x", "label": "approve"},
                        {"reviewer": "x", "label": "reject"},
                    ]
                }
            ],
        )
    assert call(runtime, "list_review_items", queue="loans").items == []


# -- listing -----------------------------------------------------------------------------


def test_list_filters_and_pages(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=2)
    ids = add_cases(runtime, "loans", 5)
    call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[{"request_id": "s", "reason": "sample", "prediction": "approve"}],
    )
    # Item 0: both agree and keep the prediction; item 1: a tie (low agreement), changed.
    for who, label in (("ann", "approve"), ("bob", "approve")):
        answer(runtime, ids[0], who, label)
    for who, label in (("ann", "reject"), ("bob", "approve")):
        answer(runtime, ids[1], who, label)
    answer(runtime, ids[2], "cat", "reject")  # one of two answers: still open

    def listed(**filters: Any) -> list[int]:
        return [i.id for i in call(runtime, "list_review_items", queue="loans", **filters).items]

    everything = listed()
    assert everything == sorted(everything, reverse=True) and len(everything) == 6  # newest first
    assert set(listed(status="done")) == {ids[0], ids[1]}
    assert set(listed(status="open")) == set(everything) - {ids[0], ids[1]}
    assert listed(status="escalated") == []
    assert len(listed(reason="sample")) == 1 and ids[0] not in listed(reason="sample")
    assert listed(low_agreement=True) == [ids[1]]
    assert ids[0] in listed(low_agreement=False)
    assert listed(changed=True) == [ids[1]]
    assert listed(changed=False) == [ids[0]]
    assert set(listed(answered_by="ann")) == {ids[0], ids[1]}
    assert listed(answered_by="cat") == [ids[2]]
    assert listed(answered_by="nobody") == []

    seen: list[int] = []
    token = None
    pages = 0
    while True:
        page = call(runtime, "list_review_items", queue="loans", max_results=4, page_token=token)
        seen += [i.id for i in page.items]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert (seen, pages) == (everything, 2)
    with pytest.raises(ValidationError, match="page_token is malformed"):
        call(runtime, "list_review_items", queue="loans", page_token="not-a-token")


# -- assigning, comments, lookup by request ---------------------------------------------


def test_only_the_assignee_is_offered_an_assigned_item(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    ids = add_cases(runtime, "loans", 3)  # ids[0] is the least confident
    assigned = call(runtime, "assign_review_items", queue="loans", ids=[ids[0]], reviewer="bob")
    assert assigned.assigned == 1
    item = call(runtime, "get_review_item", id=ids[0]).item
    assert item.assignee == "bob"
    # ann gets the next one, never bob's, even though bob's is first by confidence.
    offered = []
    while (claimed := take(runtime, "loans", "ann")).item is not None:
        offered.append(claimed.item.id)
        answer(runtime, claimed.item.id, "ann", "approve")
    assert offered == [ids[1], ids[2]]
    assert take(runtime, "loans", "bob").item.id == ids[0]


def test_assign_all_unassigned_and_back_to_everyone(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    ids = add_cases(runtime, "loans", 4)
    assert (
        call(runtime, "assign_review_items", queue="loans", ids=[ids[0]], reviewer="bob").assigned
        == 1
    )
    # ids empty: every open item not yet assigned (bob's stays bob's).
    assert call(runtime, "assign_review_items", queue="loans", reviewer="cat").assigned == 3
    assignees = {i.id: i.assignee for i in call(runtime, "list_review_items", queue="loans").items}
    assert assignees == {ids[0]: "bob", ids[1]: "cat", ids[2]: "cat", ids[3]: "cat"}
    assert take(runtime, "loans", "ann").item is None
    # Back to everyone.
    assert (
        call(runtime, "assign_review_items", queue="loans", ids=ids[1:], reviewer=None).assigned
        == 3
    )
    assert take(runtime, "loans", "ann").item.id == ids[1]
    # A done item is not reassigned.
    answer(runtime, ids[1], "ann", "approve")
    assert (
        call(runtime, "assign_review_items", queue="loans", ids=[ids[1]], reviewer="cat").assigned
        == 0
    )


def test_assign_refuses_items_it_does_not_have(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    make_queue(runtime, "other")
    mine = add_cases(runtime, "loans", 1)
    theirs = add_cases(runtime, "other", 1)
    for ids in ([mine[0], 99_999], theirs):
        with pytest.raises(NotFoundError, match="queue 'loans' has no item") as caught:
            call(runtime, "assign_review_items", queue="loans", ids=ids, reviewer="ann")
        assert caught.value.field == "ids"
    assert call(runtime, "get_review_item", id=mine[0]).item.assignee is None


def test_comments(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    (item_id,) = add_cases(runtime, "loans", 1)
    first = call(runtime, "add_review_comment", actor="ann", id=item_id, text="income looks off")
    call(runtime, "add_review_comment", actor="bob", id=item_id, text="agreed")
    assert (first.author, first.item_id) == ("ann", item_id)
    detail = call(runtime, "get_review_item", id=item_id)
    assert [(c.author, c.text) for c in detail.comments] == [
        ("ann", "income looks off"),
        ("bob", "agreed"),
    ]
    with pytest.raises(ValidationError, match="text is empty"):
        call(runtime, "add_review_comment", id=item_id, text="   ")
    with pytest.raises(ValidationError):
        call(runtime, "add_review_comment", id=item_id, text="")
    with pytest.raises(NotFoundError, match="review item 99999 does not exist"):
        call(runtime, "add_review_comment", id=99_999, text="hello")


def test_lookup_by_request_id(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    make_queue(runtime, "audit")
    (loan,) = add_cases(runtime, "loans", 1)
    (audit,) = add_cases(runtime, "audit", 1)  # the same request id "r0" in another queue
    found = call(runtime, "get_review_item_by_request", request_id="r0")
    assert found.item.id == loan  # the first queued
    assert call(runtime, "get_review_item_by_request", request_id="r0", queue="audit").item.id == (
        audit
    )
    claimed = take(runtime, "loans", "ann")
    holders = call(runtime, "get_review_item_by_request", request_id="r0", queue="loans").holders
    assert [(h.reviewer, h.lease_expires_at) for h in holders] == [
        ("ann", claimed.lease_expires_at)
    ]
    with pytest.raises(NotFoundError, match="no review item has request id 'r9'") as caught:
        call(runtime, "get_review_item_by_request", request_id="r9")
    assert caught.value.field == "request_id"
    with pytest.raises(NotFoundError, match="review queue 'nope'"):
        call(runtime, "get_review_item_by_request", request_id="r0", queue="nope")
