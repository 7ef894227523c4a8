"""Answers: what a queue accepts (choices, free text, ratings, one label per row), answers
given once (a repeat is a duplicate, a change a conflict, also when sent twice at once),
majority, ties and low agreement, whether the answer changed the model's, and the final
label reaching the inference log as ground truth of the request."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest

from mloop.core.errors import ConflictError, ValidationError
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.eventlog.labels import labels_source
from mloop.store.eventlog.reader import read_events
from mloop.store.runtime import Runtime
from tests.review.review_testing import answer, call, make_queue, take


def _item(runtime: Runtime, queue: str, request_id: str = "r1", **fields: Any) -> int:
    fields.setdefault("prediction", "approve")
    added = call(
        runtime, "add_review_items", queue=queue, items=[{"request_id": request_id, **fields}]
    )
    return int(added.ids[0])


def _answers(runtime: Runtime, item_id: int) -> list[tuple[str, Any]]:
    return [(a.reviewer, a.label) for a in call(runtime, "get_review_item", id=item_id).answers]


# -- what an answer may be ---------------------------------------------------------------


def test_a_label_must_be_one_of_the_choices(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    item = _item(runtime, "loans")
    for label in ("maybe", "Approve", 1, ["approve"], {"label": "approve"}):
        with pytest.raises(ValidationError, match='is not one of "approve", "reject"') as caught:
            answer(runtime, item, "ann", label)
        assert caught.value.field == "label"
    with pytest.raises(ValidationError, match="give a label or a rating"):
        answer(runtime, item, "ann", None)
    with pytest.raises(ValidationError, match="takes no rating"):
        answer(runtime, item, "ann", "approve", rating=3)
    assert _answers(runtime, item) == []
    assert answer(runtime, item, "ann", "reject").item.final_label == "reject"


def test_numbers_and_booleans_as_choices(runtime: Runtime) -> None:
    make_queue(runtime, "grades", choices=[1, 2, 3, True])
    item = _item(runtime, "grades", prediction=2)
    with pytest.raises(ValidationError, match="is not one of 1, 2, 3, true"):
        answer(runtime, item, "ann", "2")
    done = answer(runtime, item, "ann", 3).item
    assert (done.final_label, done.changed) == (3, True)


def test_free_text(runtime: Runtime) -> None:
    make_queue(runtime, "chats", choices=["good", "bad"], free_text=True)
    item = _item(runtime, "chats", prediction="Paris is in France.")
    # Outside the choices, any text is an answer (the correct answer of an LLM).
    done = answer(runtime, item, "ann", "Paris is the capital of France.").item
    assert done.final_label == "Paris is the capital of France." and done.changed is True
    other = _item(runtime, "chats", "r2")
    with pytest.raises(ValidationError, match="is empty"):
        answer(runtime, other, "ann", "   ")
    with pytest.raises(ValidationError, match="or free text"):
        answer(runtime, other, "ann", 42)
    make_queue(runtime, "notes", choices=[], free_text=True)
    note = _item(runtime, "notes", prediction=None)
    with pytest.raises(ValidationError, match="text") as caught:
        answer(runtime, note, "ann", 42)
    assert caught.value.field == "label"
    assert "ratings only" not in caught.value.message
    assert answer(runtime, note, "ann", "fine").item.final_label == "fine"


def test_ratings_one_to_n(runtime: Runtime) -> None:
    make_queue(runtime, "chats", choices=[], rating_scale=5, overlap=2)
    item = _item(runtime, "chats", prediction="an answer")
    with pytest.raises(ValidationError, match="rating must be 1 to 5, got 6") as caught:
        answer(runtime, item, "ann", rating=6)
    assert caught.value.field == "rating"
    with pytest.raises(ValidationError):
        answer(runtime, item, "ann", rating=0)
    with pytest.raises(ValidationError, match="takes ratings only"):
        answer(runtime, item, "ann", "great", rating=5)
    answer(runtime, item, "ann", rating=5)
    done = answer(runtime, item, "bob", rating=2).item
    assert (done.status, done.final_rating, done.final_label) == ("done", 3.5, None)
    assert done.changed is None and done.agreement is None


def test_one_label_per_row_or_one_for_all(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    rows = {"inputs": [{"income": 1}, {"income": 2}, {"income": 3}]}
    item = _item(runtime, "loans", payload=rows, prediction=["approve", "reject", "approve"])
    with pytest.raises(ValidationError, match="has 2 entries; the case has 3 rows"):
        answer(runtime, item, "ann", ["approve", "reject"])
    with pytest.raises(ValidationError, match="is not one of") as caught:
        answer(runtime, item, "ann", ["approve", "maybe", "reject"])
    assert caught.value.field == "label[1]"
    done = answer(runtime, item, "ann", ["approve", "reject", "reject"]).item
    assert (done.final_label, done.changed) == (["approve", "reject", "reject"], True)
    same = _item(runtime, "loans", "r2", payload=rows, prediction=["approve", "reject", "approve"])
    assert answer(runtime, same, "ann", ["approve", "reject", "approve"]).item.changed is False
    # One label for every row: the same as the model's only where every row was predicted so.
    everyone = _item(runtime, "loans", "r3", payload=rows, prediction=["reject"] * 3)
    submitted = answer(runtime, everyone, "ann", "reject")
    assert (submitted.item.final_label, submitted.item.changed) == ("reject", False)
    assert submitted.answer.changed is False
    mixed = _item(runtime, "loans", "r4", payload=rows, prediction=["reject", "approve", "reject"])
    assert answer(runtime, mixed, "ann", "reject").item.changed is True
    # A single-row case takes no list.
    single = _item(runtime, "loans", "r5", payload={"inputs": [{"income": 1}]})
    with pytest.raises(ValidationError, match="is not one of"):
        answer(runtime, single, "ann", ["approve"])


# -- once --------------------------------------------------------------------------------


def test_the_same_answer_again_is_a_duplicate_a_different_one_a_conflict(
    runtime: Runtime,
) -> None:
    make_queue(runtime, "loans", overlap=2)
    item = _item(runtime, "loans")
    assert take(runtime, "loans", "ann").item.id == item
    first = answer(runtime, item, "ann", "reject", comment="income too low")
    assert not first.duplicate and first.item.answers_count == 1
    again = answer(runtime, item, "ann", "reject", comment="typed again")
    assert again.duplicate and again.answer.id == first.answer.id
    assert again.answer.comment == "income too low" and again.item.answers_count == 1
    with pytest.raises(ConflictError, match="answers are final") as caught:
        answer(runtime, item, "ann", "approve")
    assert caught.value.http_status == 409
    assert _answers(runtime, item) == [("ann", "reject")]
    done = answer(runtime, item, "bob", "reject").item
    assert done.status == "done"
    # Once done: the repeat is still a duplicate; a newcomer is refused.
    assert answer(runtime, item, "ann", "reject").duplicate
    with pytest.raises(ConflictError, match="already has all its answers"):
        answer(runtime, item, "cat", "reject")
    assert call(runtime, "get_review_queue", name="loans").counts.answers == 2


def _at_once(*calls: Any) -> list[Any]:
    """Run the calls in threads started together; each one's result or exception."""
    outcomes: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except BaseException as exc:  # returned to the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("claimed", [True, False])
def test_one_reviewer_submitting_twice_at_once_leaves_one_answer(
    runtime: Runtime, claimed: bool
) -> None:
    make_queue(runtime, "loans", overlap=2)
    items = [_item(runtime, "loans", f"r{n}") for n in range(10)]
    for item in items:
        if claimed:
            assert take(runtime, "loans", "ann").item.id == item
        submit = functools.partial(answer, runtime, item, "ann", "reject")
        results = _at_once(submit, submit)
        assert not [r for r in results if isinstance(r, BaseException)]
        assert sorted(r.duplicate for r in results) == [False, True]
        assert results[0].answer.id == results[1].answer.id
        detail = call(runtime, "get_review_item", id=item)
        assert [(a.reviewer, a.label) for a in detail.answers] == [("ann", "reject")]
        assert (detail.item.answers_count, detail.item.status) == (1, "open")
        # The second slot is still there for someone else.
        assert answer(runtime, item, "bob", "reject").item.status == "done"


def test_two_different_answers_at_once_keep_one(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    item = _item(runtime, "loans")
    results = _at_once(
        functools.partial(answer, runtime, item, "ann", "approve"),
        functools.partial(answer, runtime, item, "ann", "reject"),
    )
    kept = [
        label
        for label, got in zip(("approve", "reject"), results, strict=True)
        if not isinstance(got, BaseException)
    ]
    refused = [got for got in results if isinstance(got, BaseException)]
    assert len(kept) == 1 and len(refused) == 1
    assert isinstance(refused[0], ConflictError)
    assert _answers(runtime, item) == [("ann", kept[0])]
    assert call(runtime, "get_review_item", id=item).item.final_label == kept[0]


# -- majority and agreement --------------------------------------------------------------


def test_majority_tie_and_low_agreement(runtime: Runtime) -> None:
    make_queue(runtime, "pairs", overlap=2)
    tie = _item(runtime, "pairs")
    answer(runtime, tie, "ann", "reject")
    done = answer(runtime, tie, "bob", "approve").item
    # A tie: the label given first wins, and the item is flagged.
    assert (done.final_label, done.agreement, done.low_agreement) == ("reject", 0.0, True)
    agreed = _item(runtime, "pairs", "r2")
    answer(runtime, agreed, "ann", "reject")
    done = answer(runtime, agreed, "bob", "reject").item
    assert (done.final_label, done.agreement, done.low_agreement) == ("reject", 1.0, False)

    make_queue(runtime, "strict", overlap=3, agreement_threshold=0.5)
    make_queue(runtime, "lenient", overlap=3, agreement_threshold=0.3)
    for queue, flagged in (("strict", True), ("lenient", False)):
        item = _item(runtime, queue)
        for who, label in (("ann", "approve"), ("bob", "reject"), ("cat", "reject")):
            answer(runtime, item, who, label)
        done = call(runtime, "get_review_item", id=item).item
        # One of three pairs agrees: 1/3, under 0.5 but over 0.3.
        assert done.final_label == "reject" and done.agreement == pytest.approx(1 / 3)
        assert done.low_agreement is flagged
        listed = call(runtime, "list_review_items", queue=queue, low_agreement=True).items
        assert [i.id for i in listed] == ([item] if flagged else [])


def test_changed_per_answer_and_per_item(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=3)
    item = _item(runtime, "loans", prediction="approve")
    assert answer(runtime, item, "ann", "reject").answer.changed is True
    assert answer(runtime, item, "bob", "approve").answer.changed is False
    done = answer(runtime, item, "cat", "reject").item
    assert (done.final_label, done.changed) == ("reject", True)
    unknown = _item(runtime, "loans", "r2", prediction=None)
    for who in ("ann", "bob", "cat"):
        assert answer(runtime, unknown, who, "approve").answer.changed is None
    assert call(runtime, "get_review_item", id=unknown).item.changed is None
    listed = call(runtime, "list_review_items", queue="loans", changed=True).items
    assert [i.id for i in listed] == [item]


# -- the loop back -----------------------------------------------------------------------


def _log(runtime: Runtime, *request_ids: str, endpoint: str = "loans-api") -> None:
    log = InferenceLog(runtime)
    for request_id in request_ids:
        log.record(
            InferenceRecord(
                request_id=request_id,
                endpoint=endpoint,
                variant="stable",
                model_name="loans",
                model_version=1,
                inputs=[{"income": 1}],
                outputs={"predictions": ["approve"]},
                confidence=0.55,
                latency_ms=1.0,
            )
        )
    log.flush()
    log.close()


def _origins(runtime: Runtime) -> dict[str, tuple[str, str]]:
    rows = read_events(runtime, labels_source("inference")).to_pylist()
    return {r["request_id"]: (r["label"], r["origin"]) for r in rows}


def test_the_final_label_becomes_the_requests_ground_truth(runtime: Runtime) -> None:
    _log(runtime, "req-1", "req-2", "req-3")
    make_queue(runtime, "loans", overlap=2)
    endpoint = {"source": "endpoint", "target": "loans-api"}
    first = _item(runtime, "loans", "req-1", **endpoint)
    second = _item(runtime, "loans", "req-2", **endpoint)
    answer(runtime, first, "ann", "reject")
    answer(runtime, second, "ann", "approve")
    # One of two answers: no label yet.
    labeled = InferenceLog(runtime).read_labeled(endpoints=["loans-api"]).to_pylist()
    assert all(r["label"] is None for r in labeled)
    answer(runtime, first, "bob", "reject")
    answer(runtime, second, "bob", "reject")  # a tie: the first given, "approve", wins
    labeled = InferenceLog(runtime).read_labeled(endpoints=["loans-api"]).to_pylist()
    assert {r["request_id"]: r["label"] for r in labeled} == {
        "req-1": '"reject"',
        "req-2": '"approve"',
        "req-3": None,
    }
    origins = _origins(runtime)
    assert set(origins) == {"req-1", "req-2"}
    assert all(origin.startswith("review:") for _label, origin in origins.values())
    assert origins["req-1"] == ('"reject"', "review:loans")


def test_only_endpoint_items_with_a_label_reach_the_log(runtime: Runtime) -> None:
    _log(runtime, "req-1", "req-2")
    make_queue(runtime, "loans")
    make_queue(runtime, "rated", choices=[], rating_scale=5)
    manual = _item(runtime, "loans", "req-1")  # a manual item that shares the request id
    rated = _item(runtime, "rated", "req-2", source="endpoint", target="loans-api")
    answer(runtime, manual, "ann", "reject")
    answer(runtime, rated, "ann", rating=4)
    assert _origins(runtime) == {}
    # Multi-row: a list with one label per row is stored as given.
    rows = {"inputs": [{"income": 1}, {"income": 2}]}
    multi = _item(
        runtime,
        "loans",
        "req-3",
        source="endpoint",
        target="loans-api",
        payload=rows,
        prediction=["approve", "approve"],
    )
    answer(runtime, multi, "ann", ["approve", "reject"])
    assert _origins(runtime) == {"req-3": ('["approve","reject"]', "review:loans")}
