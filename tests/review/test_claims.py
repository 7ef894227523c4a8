"""Handing items out: priority, overlap, leases that expire and are renewed, skip, release,
escalate and a lead's resolution, queue membership, and eight reviewers claiming and
answering at once (on PostgreSQL too when ``MLOOP_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from mloop.core.errors import ConflictError, PermissionDeniedError, ValidationError
from mloop.review import answers as answers_module
from mloop.review import claims as claims_module
from mloop.review import items as items_module
from mloop.review import tables as t
from mloop.store.eventlog.labels import labels_source
from mloop.store.eventlog.reader import read_events
from mloop.store.runtime import Runtime
from tests.review.review_testing import add_cases, answer, call, make_queue, take

START_MS = 1_800_000_000_000


@dataclass
class Clock:
    """The review modules' clock, moved by hand."""

    now: int = START_MS

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    # The modules import now_ms by name: patch each one's own reference.
    for module in (claims_module, answers_module, items_module):
        monkeypatch.setattr(module, "now_ms", found)
    return found


def _add(
    runtime: Runtime, queue: str, confidences: list[float | None], prefix: str = "c"
) -> list[int]:
    items = [
        {"request_id": f"{prefix}{i}", "confidence": c, "prediction": "approve"}
        for i, c in enumerate(confidences)
    ]
    return list(call(runtime, "add_review_items", queue=queue, items=items).ids)


def _order(runtime: Runtime, queue: str, who: str) -> list[int]:
    """The ids one reviewer is handed, answering each, until the queue has none for them."""
    order = []
    while (claimed := take(runtime, queue, who)).item is not None:
        order.append(claimed.item.id)
        answer(runtime, claimed.item.id, who, "approve")
    return order


# -- priority ----------------------------------------------------------------------------


def test_least_confident_first_unknown_last(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    ids = _add(runtime, "loans", [0.9, 0.3, None, 0.6, 0.3])
    assert _order(runtime, "loans", "ann") == [ids[1], ids[4], ids[3], ids[0], ids[2]]


def test_oldest_first(runtime: Runtime) -> None:
    make_queue(runtime, "loans", priority="oldest")
    ids = _add(runtime, "loans", [0.9, 0.3, None, 0.6])
    ids += _add(runtime, "loans", [0.1], prefix="later")  # added later: last, however unsure
    assert _order(runtime, "loans", "ann") == ids


def test_a_changed_priority_applies_to_queued_items(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    ids = _add(runtime, "loans", [0.9, 0.3, 0.6])
    call(runtime, "update_review_queue", name="loans", priority="oldest")
    assert _order(runtime, "loans", "ann")[:1] == [ids[0]]
    make_queue(runtime, "chats", priority="oldest")
    ids = _add(runtime, "chats", [0.9, 0.3, 0.6])
    call(runtime, "update_review_queue", name="chats", priority="confidence")
    assert _order(runtime, "chats", "ann") == [ids[1], ids[2], ids[0]]


# -- overlap -----------------------------------------------------------------------------


def test_overlap_hands_an_item_to_k_different_reviewers(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=3)
    first, second = add_cases(runtime, "loans", 2)
    # Three reviewers hold the same item at once; a fourth gets the next item.
    held = {who: take(runtime, "loans", who).item.id for who in ("ann", "bob", "cat")}
    assert held == {"ann": first, "bob": first, "cat": first}
    assert take(runtime, "loans", "dan").item.id == second
    holders = call(runtime, "get_review_item", id=first).holders
    assert sorted((h.slot, h.reviewer) for h in holders) == [(0, "ann"), (1, "bob"), (2, "cat")]
    # Asking again renews the held item: nobody holds two slots of one item.
    assert take(runtime, "loans", "ann").item.id == first
    answer(runtime, first, "ann", "approve")
    # ann is never handed the item she answered, though it still has open slots.
    assert take(runtime, "loans", "ann").item.id == second
    answer(runtime, second, "ann", "reject")
    assert take(runtime, "loans", "ann").item is None
    answer(runtime, first, "bob", "approve")
    done = answer(runtime, first, "cat", "reject").item
    assert (done.status, done.answers_count, done.final_label) == ("done", 3, "approve")
    detail = call(runtime, "get_review_item", id=first)
    assert sorted(a.reviewer for a in detail.answers) == ["ann", "bob", "cat"]
    # A done item is handed to nobody, even a reviewer who never saw it.
    assert take(runtime, "loans", "eve").item.id == second


def test_an_answer_without_a_claim_takes_a_free_slot(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=2)
    (item,) = add_cases(runtime, "loans", 1)
    take(runtime, "loans", "ann")
    take(runtime, "loans", "bob")
    # Both slots are held: a third reviewer cannot answer past them.
    with pytest.raises(ConflictError, match="held by other reviewers"):
        answer(runtime, item, "cat", "approve")
    answer(runtime, item, "ann", "approve")
    call(runtime, "release_review_item", actor="bob", id=item)
    # bob let go: cat answers straight away, without claiming first.
    assert answer(runtime, item, "cat", "approve").item.status == "done"


# -- leases ------------------------------------------------------------------------------


def test_an_expired_lease_returns_the_item(runtime: Runtime, clock: Clock) -> None:
    make_queue(runtime, "loans", lease_seconds=60)
    (item,) = add_cases(runtime, "loans", 1)
    claimed = take(runtime, "loans", "ann")
    assert (claimed.item.id, claimed.lease_expires_at) == (item, START_MS + 60_000)
    clock.advance(59.999)
    assert take(runtime, "loans", "bob").item is None
    clock.advance(0.001)  # the lease ends now
    assert take(runtime, "loans", "bob").item.id == item
    holders = call(runtime, "get_review_item", id=item).holders
    assert [(h.reviewer, h.lease_expires_at) for h in holders] == [("bob", clock.now + 60_000)]
    # ann's hold is gone: she can neither answer past bob nor get the item back.
    with pytest.raises(ConflictError, match="held by other reviewers"):
        answer(runtime, item, "ann", "approve")
    assert take(runtime, "loans", "ann").item is None
    assert answer(runtime, item, "bob", "reject").item.status == "done"


def test_asking_again_renews_the_held_item(runtime: Runtime, clock: Clock) -> None:
    make_queue(runtime, "loans", lease_seconds=60)
    first, second = add_cases(runtime, "loans", 2)
    assert take(runtime, "loans", "ann").item.id == first
    clock.advance(50)
    renewed = take(runtime, "loans", "ann")  # a reloaded page: the same case
    assert (renewed.item.id, renewed.lease_expires_at) == (first, clock.now + 60_000)
    clock.advance(50)  # past the first lease, within the renewed one
    assert take(runtime, "loans", "bob").item.id == second
    answer(runtime, second, "bob", "approve")
    assert take(runtime, "loans", "bob").item is None
    # An answer after the lease ran out still counts while nobody else took the item.
    clock.advance(61)
    submitted = answer(runtime, first, "ann", "approve")
    assert submitted.item.status == "done" and submitted.answer.seconds == pytest.approx(161.0)


# -- skip, release, escalate -------------------------------------------------------------


def test_a_skipped_item_is_never_offered_again_to_that_reviewer(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    first, second = add_cases(runtime, "loans", 2)
    assert take(runtime, "loans", "ann").item.id == first
    skipped = call(runtime, "skip_review_item", actor="ann", id=first)
    assert skipped.status == "open"
    assert call(runtime, "get_review_item", id=first).holders == []
    assert take(runtime, "loans", "ann").item.id == second
    answer(runtime, second, "ann", "approve")
    assert take(runtime, "loans", "ann").item is None
    # Skipping twice is no error; the item still goes to others.
    call(runtime, "skip_review_item", actor="ann", id=first)
    assert take(runtime, "loans", "bob").item.id == first
    call(runtime, "release_review_item", actor="bob", id=first)
    assert take(runtime, "loans", "ann").item is None
    assert take(runtime, "loans", "bob").item.id == first


def test_release_gives_the_item_back(runtime: Runtime) -> None:
    make_queue(runtime, "loans")
    first, _second = add_cases(runtime, "loans", 2)
    assert take(runtime, "loans", "ann").item.id == first
    with pytest.raises(ConflictError, match=f"you do not hold review item {first}"):
        call(runtime, "release_review_item", actor="bob", id=first)
    released = call(runtime, "release_review_item", actor="ann", id=first)
    assert released.status == "open"
    assert call(runtime, "get_review_item", id=first).holders == []
    assert take(runtime, "loans", "bob").item.id == first
    # Releasing is not skipping: ann may take it again once bob lets go.
    call(runtime, "release_review_item", actor="bob", id=first)
    assert take(runtime, "loans", "ann").item.id == first


def test_escalate_then_resolve(runtime: Runtime) -> None:
    make_queue(runtime, "loans", overlap=2)
    ids = call(
        runtime,
        "add_review_items",
        queue="loans",
        items=[
            {
                "request_id": "req-hard",
                "source": "endpoint",
                "target": "loans-api",
                "prediction": "approve",
                "confidence": 0.1,
            },
            {"request_id": "req-easy", "prediction": "approve", "confidence": 0.5},
        ],
    ).ids
    hard, easy = ids
    assert take(runtime, "loans", "ann").item.id == hard
    answer(runtime, hard, "ann", "approve")
    assert take(runtime, "loans", "bob").item.id == hard
    escalated = call(runtime, "escalate_review_item", actor="bob", id=hard, note="policy?")
    assert (escalated.status, escalated.escalated_by, escalated.escalation_note) == (
        "escalated",
        "bob",
        "policy?",
    )
    # It left the queue: held by nobody, handed to nobody, not counted as remaining.
    assert call(runtime, "get_review_item", id=hard).holders == []
    claimed = take(runtime, "loans", "cat")
    assert (claimed.item.id, claimed.remaining) == (easy, 1)
    assert take(runtime, "loans", "bob").item.id == easy
    for who in ("bob", "dan"):
        with pytest.raises(ConflictError, match="was escalated"):
            answer(runtime, hard, who, "reject")
    with pytest.raises(ConflictError, match="only open items escalate"):
        call(runtime, "escalate_review_item", actor="cat", id=hard)
    queued = call(runtime, "list_review_items", queue="loans", status="escalated").items
    assert [i.id for i in queued] == [hard]
    assert call(runtime, "get_review_queue", name="loans").counts.escalated == 1

    with pytest.raises(ValidationError, match="not one of"):
        call(runtime, "resolve_review_item", id=hard, label="maybe")
    resolved = call(runtime, "resolve_review_item", actor="lead", id=hard, label="reject")
    assert (resolved.item.status, resolved.item.final_label, resolved.item.changed) == (
        "done",
        "reject",
        True,
    )
    # The lead decides alone: ann's "approve" is kept but outvoted by nobody.
    assert resolved.item.agreement is None and not resolved.item.low_agreement
    assert [(a.reviewer, a.label) for a in call(runtime, "get_review_item", id=hard).answers] == [
        ("ann", "approve"),
        ("lead", "reject"),
    ]
    with pytest.raises(ConflictError, match="already done"):
        call(runtime, "resolve_review_item", actor="boss", id=hard, label="approve")
    # The endpoint item's label reached the inference log's labels.
    labels = read_events(runtime, labels_source("inference")).to_pylist()
    assert [(r["request_id"], r["label"], r["origin"]) for r in labels] == [
        ("req-hard", '"reject"', "review:loans")
    ]


def test_only_listed_reviewers_answer_a_queue(runtime: Runtime) -> None:
    make_queue(runtime, "loans", reviewers=["ann"])
    first, _second = add_cases(runtime, "loans", 2)
    refused: list[tuple[str, dict[str, Any]]] = [
        ("next_review_item", {"queue": "loans"}),
        ("submit_review_answer", {"id": first, "label": "approve"}),
        ("skip_review_item", {"id": first}),
        ("escalate_review_item", {"id": first}),
    ]
    for operation, fields in refused:
        with pytest.raises(PermissionDeniedError, match="'bob' is not a reviewer") as caught:
            call(runtime, operation, actor="bob", **fields)
        assert caught.value.http_status == 403
    assert call(runtime, "get_review_item", id=first).item.status == "open"
    assert take(runtime, "loans", "ann").item.id == first
    call(runtime, "update_review_queue", name="loans", reviewers=["ann", "bob"])
    assert take(runtime, "loans", "bob").item.id == _second


# -- concurrency -------------------------------------------------------------------------

REVIEWERS = 8


@pytest.mark.parametrize(("items", "overlap"), [(200, 1), (60, 2)])
def test_eight_reviewers_at_once(runtime: Runtime, items: int, overlap: int) -> None:
    """Each reviewer claims, answers (twice, the second a duplicate) and claims again until
    the queue is empty: every claim is recorded, and every answer is looked for after."""
    make_queue(runtime, "loans", overlap=overlap)
    ids = add_cases(runtime, "loans", items)
    claims: list[tuple[int, str]] = []
    submitted: list[tuple[int, str, str]] = []
    repeats: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(REVIEWERS)
    deadline = time.monotonic() + 300

    def review(who: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            while time.monotonic() < deadline:
                claimed = take(runtime, "loans", who)
                if claimed.item is None:
                    if claimed.remaining == 0:
                        return
                    # The open items left are held by others or answered by this reviewer:
                    # wait for the others to finish them (a real reviewer would come back).
                    time.sleep(0.01)
                    continue
                label = rng.choice(["approve", "reject"])
                with lock:
                    claims.append((claimed.item.id, who))
                    submitted.append((claimed.item.id, who, label))
                first = answer(runtime, claimed.item.id, who, label)
                again = answer(runtime, claimed.item.id, who, label)
                with lock:
                    repeats.append(first.duplicate)
                    repeats.append(not again.duplicate)
                assert again.answer.id == first.answer.id
        except BaseException as exc:  # reported below, with the thread's name
            with lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=review, args=(f"reviewer-{n}", n), name=f"reviewer-{n}")
        for n in range(REVIEWERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert time.monotonic() < deadline, "the reviewers did not finish"

    # No item was handed out beyond its overlap, nor twice to one reviewer.
    per_item: dict[int, list[str]] = defaultdict(list)
    for item_id, who in claims:
        per_item[item_id].append(who)
    assert sorted(per_item) == sorted(ids)
    assert {len(who) for who in per_item.values()} == {overlap}
    assert all(len(set(who)) == overlap for who in per_item.values())
    # Every first submission was new and every second a duplicate.
    assert repeats == [False] * len(repeats) and len(repeats) == 2 * items * overlap

    # Every item is done, with exactly its answers, and no answer was lost or doubled.
    queue = call(runtime, "get_review_queue", name="loans")
    assert (queue.counts.done, queue.counts.open, queue.counts.answers) == (
        items,
        0,
        items * overlap,
    )
    stored = runtime.run(
        lambda ctx: list(
            ctx.conn.execute(
                select(
                    t.review_answers.c.item_id,
                    t.review_answers.c.reviewer,
                    t.review_answers.c.label_json,
                )
            )
        ),
        write=False,
    )
    assert Counter((i, w, f'"{label}"') for i, w, label in submitted) == Counter(
        (r.item_id, r.reviewer, r.label_json) for r in stored
    )
    slots: dict[str, int] = runtime.run(
        lambda ctx: dict(
            ctx.conn.execute(
                select(t.review_slots.c.state, func.count()).group_by(t.review_slots.c.state)
            ).all()
        ),
        write=False,
    )
    assert slots == {"answered": items * overlap}
    # The final label is each item's majority (the first given on a tie).
    by_item: dict[int, list[str]] = defaultdict(list)
    for item_id, _who, label in submitted:
        by_item[item_id].append(label)
    listed = call(runtime, "list_review_items", queue="loans", max_results=1000).items
    assert all(i.status == "done" for i in listed)
    for item in listed:
        assert item.final_label in by_item[item.id]
