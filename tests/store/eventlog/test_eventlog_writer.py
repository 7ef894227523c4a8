"""The event log writer: records come back after a flush, a full queue drops and counts
without blocking, close writes everything, bad records are refused by field."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from tests.store.eventlog.helpers import DAY0, prediction

from mloop.core.errors import ValidationError
from mloop.store.eventlog import (
    INFERENCE_SCHEMA,
    EventLogWriter,
    find_segments,
    read_events,
    segments,
)
from mloop.store.runtime import Runtime


def _writer(runtime: Runtime, **options: Any) -> EventLogWriter:
    options.setdefault("flush_seconds", 3600)  # only flush(), close() or flush_rows write
    return EventLogWriter(runtime, "inference", INFERENCE_SCHEMA, key_field="endpoint", **options)


def test_appended_records_come_back_after_flush(any_runtime: Runtime) -> None:
    with _writer(any_runtime) as writer:
        for i in range(100):
            assert writer.append(prediction(i)) is True
        writer.flush()
        table = read_events(any_runtime, "inference")
        assert writer.stats.written == 100 and writer.stats.dropped == 0
    assert table.schema.names == INFERENCE_SCHEMA.names
    assert table.to_pylist() == [prediction(i) for i in range(100)]


def test_the_background_thread_writes_once_flush_rows_are_queued(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = threading.Event()
    real = segments.write_segments

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        written.set()
        return result

    monkeypatch.setattr(segments, "write_segments", spy)
    with _writer(runtime, flush_rows=10) as writer:
        for i in range(10):
            writer.append(prediction(i))
        assert written.wait(30), "the writer did not write after flush_rows records"
        assert read_events(runtime, "inference").num_rows == 10


def test_a_full_queue_drops_and_counts_and_append_never_blocks(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    writer = _writer(runtime, max_queue=5, flush_rows=5)
    results: list[bool] = []
    # Holding the write lock stands for storage that stalls: the background thread cannot
    # take anything off the queue.
    with writer._write_lock, caplog.at_level(logging.WARNING):
        appender = threading.Thread(
            target=lambda: results.extend(writer.append(prediction(i)) for i in range(12))
        )
        appender.start()
        appender.join(30)
        assert not appender.is_alive(), "append blocked while the writer was stalled"
        assert results == [True] * 5 + [False] * 7
        assert writer.stats.dropped == 7
        full = [r for r in caplog.records if "queue is full" in r.getMessage()]
        assert len(full) == 1, "one warning per burst of drops, not one per record"
    writer.close()
    assert "dropped 7 records in that burst" in caplog.text
    stored = read_events(runtime, "inference", columns=["request_id"])
    assert stored.column("request_id").to_pylist() == [f"req-{i}" for i in range(5)]


def test_close_writes_everything_queued(runtime: Runtime) -> None:
    writer = _writer(runtime, flush_rows=50_000)
    for i in range(1000):
        writer.append(prediction(i))
    assert find_segments(runtime, "inference") == []
    writer.close()
    writer.close()  # idempotent
    assert read_events(runtime, "inference").num_rows == 1000
    assert writer.stats.written == 1000 and writer.queued == 0
    with pytest.raises(RuntimeError, match="closed"):
        writer.append(prediction(1001))


def test_a_failed_write_keeps_the_records_and_retries(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = segments.write_segments
    calls = {"n": 0}

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("object store unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(segments, "write_segments", failing_once)
    with _writer(runtime) as writer:
        for i in range(3):
            writer.append(prediction(i))
        with pytest.raises(OSError, match="unreachable"):
            writer.flush()
        assert writer.stats.write_errors == 1 and writer.queued == 3
        writer.append(prediction(3))
        writer.flush()
        assert writer.stats.written == 4
    assert read_events(runtime, "inference").num_rows == 4


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"colour": "red"}, "colour", "not a field of the inference log"),
        ({"latency_ms": "fast"}, "latency_ms", "must be double, got str"),
        ({"model_version": True}, "model_version", "must be int64, got bool"),
        ({"model_version": 3.5}, "model_version", "must be int64, got float"),
        ({"time": None}, "time", "time is required"),
        ({"request_id": 7}, "request_id", "must be string, got int"),
    ],
)
def test_a_bad_record_is_refused_by_field_and_loses_nothing(
    runtime: Runtime, change: dict[str, Any], field: str, message: str
) -> None:
    with _writer(runtime) as writer:
        writer.append(prediction(0))
        with pytest.raises(ValidationError, match=message) as caught:
            writer.append({**prediction(1), **change})
        assert caught.value.field == field
        writer.append(prediction(2))
    stored = read_events(runtime, "inference", columns=["request_id"])
    assert stored.column("request_id").to_pylist() == ["req-0", "req-2"]


def test_a_record_arrow_refuses_is_left_out_alone(runtime: Runtime) -> None:
    """A value that passes the type check but not Arrow (an int beyond int64) costs only
    its own record."""
    with _writer(runtime) as writer:
        writer.append(prediction(0))
        writer.append({**prediction(1), "model_version": 2**70})
        writer.append(prediction(2))
        writer.flush()
        assert writer.stats.rejected == 1 and writer.stats.written == 2
    assert read_events(runtime, "inference").num_rows == 2


def test_writer_options_are_checked(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="'colour' is not a field"):
        EventLogWriter(runtime, "inference", INFERENCE_SCHEMA, key_field="colour")
    with pytest.raises(ValueError, match="flush_rows"):
        EventLogWriter(runtime, "inference", INFERENCE_SCHEMA, max_queue=10, flush_rows=11)
    with pytest.raises(ValidationError, match="source") as caught:
        EventLogWriter(runtime, "../etc", INFERENCE_SCHEMA, key_field="endpoint")
    assert caught.value.field == "source"


def test_day_boundaries_follow_utc(runtime: Runtime) -> None:
    with _writer(runtime) as writer:
        writer.append(prediction(0, time=DAY0 - 1))
        writer.append(prediction(1, time=DAY0))
    assert sorted(s.day for s in find_segments(runtime, "inference")) == [
        "2025-12-31",
        "2026-01-01",
    ]
