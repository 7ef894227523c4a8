"""Production sampling: hourly quotas that add up to the daily number, a deterministic
choice of requests, sampling an endpoint's logged requests and a gateway route's calls into
a queue once (hours already sampled are not sampled again), and the input refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import insert, update

from mloop.core.errors import NotFoundError, ValidationError
from mloop.llm.calls.tables import llm_calls
from mloop.review import tables as t
from mloop.review.sampling import HOUR_MS, ReviewSampler, choose, hour_quota
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime
from tests.review.review_testing import answer, call, make_queue

DAY = 20_000 * 24 * HOUR_MS  # midnight UTC of a day in 2024
H0 = DAY + 5 * HOUR_MS  # the first hour sampled in these tests


# -- quotas and choices ------------------------------------------------------------------


@pytest.mark.parametrize("per_day", [1, 5, 23, 24, 25, 30, 100, 1001, 100_000])
def test_hour_quotas_add_up_to_the_day(per_day: int) -> None:
    for first in (DAY, DAY + 7 * HOUR_MS):  # any 24 consecutive hours
        quotas = [hour_quota(per_day, first + h * HOUR_MS) for h in range(24)]
        assert sum(quotas) == per_day
        assert max(quotas) - min(quotas) <= 1
    # Any time within an hour has the hour's quota.
    assert hour_quota(per_day, DAY + 123_456) == hour_quota(per_day, DAY)


def test_choose_is_deterministic_and_near_the_rate() -> None:
    ids = [f"req-{n}" for n in range(10_000)]
    chosen = choose(7, {"rate": 0.1}, H0, ids)
    assert chosen == choose(7, {"rate": 0.1}, H0, list(reversed(ids)) + ids[:50])
    assert 800 <= len(chosen) <= 1200
    assert chosen <= set(ids)
    # Another policy draws other requests; a higher rate takes more, and what the lower took.
    other = choose(8, {"rate": 0.1}, H0, ids)
    assert other != chosen and 800 <= len(other) <= 1200
    assert chosen < choose(7, {"rate": 0.3}, H0, ids)
    assert choose(7, {"rate": 1.0}, H0, ids) == set(ids)


def test_choose_takes_the_hours_quota() -> None:
    ids = [f"req-{n}" for n in range(100)]
    config = {"per_day": 48}  # 2 an hour
    chosen = choose(3, config, H0, ids)
    assert len(chosen) == 2 and chosen == choose(3, config, H0, ids[::-1])
    assert choose(3, config, H0, ids[:1]) == {"req-0"}  # fewer requests than the quota
    assert choose(3, config, H0, []) == set()


# -- an endpoint's requests --------------------------------------------------------------


def _record(request_id: str, time: int, **fields: Any) -> InferenceRecord:
    values: dict[str, Any] = {
        "request_id": request_id,
        "endpoint": "loans-api",
        "variant": "stable",
        "model_name": "loans",
        "model_version": 2,
        "inputs": [{"income": 1000}],
        "outputs": {"predictions": ["approve"], "probabilities": [[0.8, 0.2]]},
        "confidence": 0.8,
        "latency_ms": 2.0,
        "time": time,
    }
    return InferenceRecord(**{**values, **fields})


def _log(runtime: Runtime, records: list[InferenceRecord]) -> None:
    log = InferenceLog(runtime)
    for record in records:
        assert log.record(record)
    log.flush()
    log.close()


def _start_at(runtime: Runtime, policy_id: int, when: int) -> None:
    """Move a sampling policy's ``sampled_until`` (it starts at the hour it was made)."""
    p = t.review_policies.c
    runtime.run(
        lambda ctx: ctx.conn.execute(
            update(t.review_policies).where(p.id == policy_id).values(sampled_until=when)
        ),
        write=True,
    )


def _queued(runtime: Runtime, queue: str) -> dict[str, Any]:
    items = call(runtime, "list_review_items", queue=queue, max_results=1000).items
    return {i.request_id: i for i in items}


def test_an_endpoints_requests_are_sampled_once(runtime: Runtime) -> None:
    call(runtime, "create_endpoint", name="loans-api")
    call(runtime, "create_endpoint", name="other-api")
    make_queue(runtime, "audit")
    policy = call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", rate=0.5)
    assert (policy.endpoint, policy.route, policy.rate, policy.per_day) == (
        "loans-api",
        None,
        0.5,
        None,
    )
    _start_at(runtime, policy.id, H0)
    first = [f"a{n}" for n in range(40)]  # hour H0
    second = [f"b{n}" for n in range(40)]  # hour H0 + 1
    records = [_record(r, H0 + 1000 + n) for n, r in enumerate(first)]
    records += [_record(r, H0 + HOUR_MS + 1000 + n) for n, r in enumerate(second)]
    # Not sampled: before the policy's start, failed, another endpoint, an unended hour.
    records += [
        _record("early", H0 - 1),
        _record("failed", H0 + 5, status="error", outputs=None, error="boom"),
        _record("elsewhere", H0 + 6, endpoint="other-api"),
        _record("later", H0 + 2 * HOUR_MS + 5),
    ]
    # A shadow copy shares its request's id and comes after it: the first is kept.
    records.append(_record(first[0], H0 + 2000, variant="shadow", model_version=3))
    _log(runtime, records)

    config = {"rate": 0.5}
    expected = choose(policy.id, config, H0, first) | choose(
        policy.id, config, H0 + HOUR_MS, second
    )
    assert 0 < len(expected) < 80
    run = call(runtime, "run_review_sampling", id=policy.id, until=H0 + 2 * HOUR_MS + 60_000)
    assert [(r.policy, r.hours, r.added) for r in run.policies] == [(policy.id, 2, len(expected))]
    queued = _queued(runtime, "audit")
    assert set(queued) == expected
    item = next(iter(queued.values()))
    assert (item.source, item.target, item.reason, item.status) == (
        "endpoint",
        "loans-api",
        "sample",
        "open",
    )
    assert (item.prediction, item.confidence, item.model_name, item.model_version) == (
        "approve",
        0.8,
        "loans",
        2,
    )
    assert item.payload["inputs"] == [{"income": 1000}]
    assert item.payload["probabilities"] == [[0.8, 0.2]]
    if first[0] in queued:
        assert queued[first[0]].variant == "stable"

    # The same hours again: nothing (they were sampled).
    again = call(runtime, "run_review_sampling", id=policy.id, until=H0 + 2 * HOUR_MS + 60_000)
    assert [(r.hours, r.added) for r in again.policies] == [(0, 0)]
    # Sampled again from the start, the same requests are chosen, and are queued already.
    _start_at(runtime, policy.id, H0)
    redo = call(runtime, "run_review_sampling", until=H0 + 2 * HOUR_MS)
    assert [(r.hours, r.added) for r in redo.policies] == [(2, 0)]
    assert set(_queued(runtime, "audit")) == expected
    # The next hour, once it ended.
    later = call(runtime, "run_review_sampling", id=policy.id, until=H0 + 3 * HOUR_MS)
    assert [r.hours for r in later.policies] == [1]
    assert ("later" in _queued(runtime, "audit")) == (
        "later" in choose(policy.id, config, H0 + 2 * HOUR_MS, ["later"])
    )


def test_per_day_takes_each_hours_share(runtime: Runtime) -> None:
    call(runtime, "create_endpoint", name="loans-api")
    make_queue(runtime, "audit")
    policy = call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", per_day=72)
    _start_at(runtime, policy.id, H0)
    _log(
        runtime,
        [_record(f"h{h}-{n}", H0 + h * HOUR_MS + n) for h in range(4) for n in range(20)],
    )
    # The server's sampler does the same as the operation: 3 of each hour's 20 requests.
    added = ReviewSampler(runtime).run_once(now=H0 + 4 * HOUR_MS)
    assert added == 12
    per_hour = sorted(r.split("-")[0] for r in _queued(runtime, "audit"))
    assert per_hour == ["h0"] * 3 + ["h1"] * 3 + ["h2"] * 3 + ["h3"] * 3


def test_sampling_starts_with_the_hour_the_policy_was_made(runtime: Runtime) -> None:
    call(runtime, "create_endpoint", name="loans-api")
    make_queue(runtime, "audit")
    policy = call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", rate=1.0)
    start = policy.sampled_until
    assert start is not None and start % HOUR_MS == 0 and start <= policy.created_at
    assert policy.created_at - start < HOUR_MS
    _log(runtime, [_record("before", start - 10), _record("after", start + 10)])
    # The hour under way has not ended: nothing yet.
    now = call(runtime, "run_review_sampling", id=policy.id, until=start + HOUR_MS - 1)
    assert [(r.hours, r.added) for r in now.policies] == [(0, 0)]
    run = call(runtime, "run_review_sampling", id=policy.id, until=start + HOUR_MS)
    assert [(r.hours, r.added) for r in run.policies] == [(1, 1)]
    assert set(_queued(runtime, "audit")) == {"after"}
    # Setting the policy again changes the rate, not where sampling stands.
    changed = call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", rate=0.2)
    assert (changed.id, changed.rate, changed.sampled_until) == (policy.id, 0.2, start + HOUR_MS)


# -- a gateway route's calls -------------------------------------------------------------


def _calls(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    base: dict[str, Any] = {
        "endpoint": "chat",
        "route": "support",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "requested_model": "support",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 120.0,
        "cost_usd": 0.001,
        "capture": "full",
        "prompt_name": None,
        "prompt_version": None,
        "request_json": None,
        "response_json": None,
    }
    runtime.run(
        lambda ctx: ctx.conn.execute(insert(llm_calls), [{**base, **row} for row in rows]),
        write=True,
    )


def _chat(question: str, reply: str) -> dict[str, Any]:
    request = {"model": "support", "messages": [{"role": "user", "content": question}]}
    response = {"choices": [{"message": {"role": "assistant", "content": reply}}]}
    return {
        "request_json": orjson.dumps(request).decode(),
        "response_json": orjson.dumps(response).decode(),
    }


def test_a_gateway_routes_calls_are_sampled(runtime: Runtime) -> None:
    make_queue(runtime, "answers", choices=[], free_text=True, rating_scale=5)
    policy = call(runtime, "set_review_sampling", queue="answers", route="support", rate=1.0)
    assert (policy.route, policy.endpoint) == ("support", None)
    _start_at(runtime, policy.id, H0)
    _calls(
        runtime,
        [
            {
                "id": "call-1",
                "time": H0 + 10,
                "prompt_name": "support-bot",
                "prompt_version": 4,
                **_chat("Where is my order?", "It ships tomorrow."),
            },
            {"id": "call-2", "time": H0 + 20, "capture": "none"},  # nothing captured
            {"id": "call-3", "time": H0 + 30, "status": "error", "http_status": 502},
            {"id": "call-4", "time": H0 + 40, "route": "sales", **_chat("Hi", "Hello")},
            {"id": "call-5", "time": H0 + HOUR_MS + 5, **_chat("Refund?", "Yes.")},
        ],
    )
    run = call(runtime, "run_review_sampling", id=policy.id, until=H0 + HOUR_MS)
    assert [(r.hours, r.added) for r in run.policies] == [(1, 2)]
    queued = _queued(runtime, "answers")
    assert set(queued) == {"call-1", "call-2"}
    item = queued["call-1"]
    assert (item.source, item.target, item.reason) == ("gateway", "support", "sample")
    assert (item.prompt_name, item.prompt_version) == ("support-bot", 4)
    assert item.prediction == "It ships tomorrow."
    assert item.payload == {
        "messages": [{"role": "user", "content": "Where is my order?"}],
        "answer": "It ships tomorrow.",
        "model": "gpt-4o-mini",
        "capture": "full",
        "latency_ms": 120.0,
        "cost_usd": 0.001,
    }
    bare = queued["call-2"]
    assert (bare.payload["messages"], bare.payload["answer"], bare.prediction) == (
        None,
        None,
        None,
    )
    # A reviewer rates the answer and writes a better one.
    done = answer(runtime, item.id, "ann", "It ships tomorrow by 10am.", rating=4).item
    assert (done.final_label, done.final_rating, done.changed) == (
        "It ships tomorrow by 10am.",
        4.0,
        True,
    )


# -- bad input ---------------------------------------------------------------------------


def test_sampling_policy_input(runtime: Runtime) -> None:
    call(runtime, "create_endpoint", name="loans-api")
    make_queue(runtime, "audit")
    with pytest.raises(ValidationError, match="either endpoint or route"):
        call(
            runtime,
            "set_review_sampling",
            queue="audit",
            endpoint="loans-api",
            route="support",
            rate=0.1,
        )
    with pytest.raises(ValidationError, match="either endpoint or route"):
        call(runtime, "set_review_sampling", queue="audit", rate=0.1)
    with pytest.raises(ValidationError, match="either per_day or rate"):
        call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api")
    with pytest.raises(ValidationError, match="either per_day or rate"):
        call(
            runtime, "set_review_sampling", queue="audit", endpoint="loans-api", per_day=5, rate=0.1
        )
    for bad in ({"rate": 0.0}, {"rate": 1.5}, {"per_day": 0}):
        with pytest.raises(ValidationError):
            call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", **bad)
    with pytest.raises(NotFoundError, match="nope"):
        call(runtime, "set_review_sampling", queue="audit", endpoint="nope", rate=0.1)
    with pytest.raises(NotFoundError, match="review queue 'nope'"):
        call(runtime, "set_review_sampling", queue="nope", endpoint="loans-api", rate=0.1)
    with pytest.raises(NotFoundError, match="no sampling policy 999"):
        call(runtime, "run_review_sampling", id=999)
    with pytest.raises(NotFoundError, match="no sampling policy 999"):
        call(runtime, "delete_review_sampling", id=999)
    assert call(runtime, "list_review_policies").sampling == []

    made = call(runtime, "set_review_sampling", queue="audit", endpoint="loans-api", per_day=30)
    listed = call(runtime, "list_review_policies", queue="audit")
    assert [p.id for p in listed.sampling] == [made.id] and listed.routing == []
    call(runtime, "delete_review_sampling", id=made.id)
    assert call(runtime, "list_review_policies", queue="audit").sampling == []
