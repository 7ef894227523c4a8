"""The call log writer: batches in the background, loses nothing, redacts captured content."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from mloop.llm.calls.capture import redacted
from mloop.llm.calls.log import CallLogWriter, CallRecord
from mloop.llm.calls.tables import llm_calls
from mloop.store.runtime import Runtime


def record(i: int, **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "id": f"c{i:05d}",
        "time": 1_700_000_000_000 + i,
        "endpoint": "chat",
        "requested_model": "r",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 1.5,
    }
    values.update(fields)
    return CallRecord(**values)


def rows(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.db.engine.connect() as conn:
        result = conn.execute(sa.select(llm_calls).order_by(llm_calls.c.time)).mappings()
        return [dict(r) for r in result]


def test_records_are_stored_in_batches_and_flush_waits(runtime: Runtime) -> None:
    writer = CallLogWriter(runtime)
    for i in range(1200):
        writer.submit(record(i, attempts=[{"provider": "p", "outcome": "ok"}]))
    writer.flush()
    stored = rows(runtime)
    assert len(stored) == 1200 and writer.stored == 1200
    assert json.loads(stored[0]["attempts_json"]) == [{"provider": "p", "outcome": "ok"}]
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(record(9999))


def test_calls_are_stored_after_the_linger_without_a_flush(runtime: Runtime) -> None:
    writer = CallLogWriter(runtime, linger=0.05)
    writer.submit(record(1))
    deadline = time.monotonic() + 10
    while not rows(runtime) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["id"] for r in rows(runtime)] == ["c00001"]
    writer.close()


def test_calls_within_the_linger_share_one_write(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = CallLogWriter(runtime, linger=2.0)
    batches: list[int] = []
    store = writer._store
    monkeypatch.setattr(writer, "_store", lambda batch: (batches.append(len(batch)), store(batch)))
    for i in range(5):
        writer.submit(record(i))
    writer.flush()  # a flush does not wait out the linger
    assert batches == [5] and len(rows(runtime)) == 5
    writer.close()


def test_close_stores_what_is_still_lingering(runtime: Runtime) -> None:
    writer = CallLogWriter(runtime, linger=5.0)
    writer.submit(record(1))
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 4 and len(rows(runtime)) == 1


@pytest.mark.parametrize("linger", [-0.1, 11.0])
def test_linger_out_of_range_is_refused(runtime: Runtime, linger: float) -> None:
    with pytest.raises(ValueError, match="linger must be between 0 and 10 seconds"):
        CallLogWriter(runtime, linger=linger)


def test_a_bad_record_does_not_lose_its_batch(runtime: Runtime) -> None:
    writer = CallLogWriter(runtime)
    writer.submit(record(1))
    writer.submit(record(1))  # the same id twice: the second insert fails
    writer.submit(record(2))
    writer.flush()
    assert [r["id"] for r in rows(runtime)] == ["c00001", "c00002"]
    assert writer.failed == 1
    writer.close()


def test_close_stores_what_is_still_queued(runtime: Runtime) -> None:
    writer = CallLogWriter(runtime)
    for i in range(50):
        writer.submit(record(i))
    writer.close()
    assert len(rows(runtime)) == 50


@pytest.mark.parametrize(
    ("capture", "expect_request"),
    [
        ("full", "card 4242 4242 4242 4242"),
        ("redacted", "card [PAYMENT_CARD]"),
        ("none", None),
    ],
)
def test_capture_modes(runtime: Runtime, capture: str, expect_request: str | None) -> None:
    writer = CallLogWriter(runtime)
    request = {"messages": [{"role": "user", "content": "card 4242 4242 4242 4242"}]}
    writer.submit(record(1, capture=capture, request=request, response={"text": "ok"}))
    writer.close()
    (row,) = rows(runtime)
    if expect_request is None:
        assert row["request_json"] is None and row["response_json"] is None
    else:
        assert json.loads(row["request_json"])["messages"][0]["content"] == expect_request
    # The submitted record's own content is never changed by redaction.
    assert request["messages"][0]["content"] == "card 4242 4242 4242 4242"


def test_redaction_walks_nested_content_and_caps_huge_texts() -> None:
    value = {"a": ["mail bob@example.com", {"b": "no personal data here"}], "n": 3, "x": None}
    assert redacted(value) == {
        "a": ["mail [EMAIL]", {"b": "no personal data here"}],
        "n": 3,
        "x": None,
    }
    assert redacted("9" * 2_000_001).startswith("[TEXT TOO LONG")
