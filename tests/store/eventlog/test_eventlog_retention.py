"""Retention deletes segments and their index rows by age, idempotently, never leaving a
row that readers use without its file."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from tests.store.eventlog.helpers import DAY, DAY0, prediction

from mloop.core.errors import ValidationError
from mloop.store.eventlog import INFERENCE_SCHEMA, EventLogWriter, find_segments, prune, read_events
from mloop.store.runtime import Runtime

CUTOFF = datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC)


def _write_days(runtime: Runtime, days: int) -> None:
    with EventLogWriter(
        runtime, "inference", INFERENCE_SCHEMA, key_field="endpoint", flush_seconds=3600
    ) as writer:
        for day in range(days):
            writer.append(prediction(day, time=DAY0 + day * DAY + 1000))


def test_prune_deletes_old_segments_and_is_idempotent(any_runtime: Runtime) -> None:
    _write_days(any_runtime, 4)
    before = find_segments(any_runtime, "inference")
    result = prune(any_runtime, "inference", CUTOFF)
    assert (result.segments, result.rows, result.failed) == (2, 2, 0)
    kept = find_segments(any_runtime, "inference")
    assert [s.day for s in kept] == ["2026-01-03", "2026-01-04"]
    for segment in before:
        assert any_runtime.artifacts.exists(segment.path) == (segment in kept)
    assert read_events(any_runtime, "inference").column("request_id").to_pylist() == [
        "req-2",
        "req-3",
    ]
    again = prune(any_runtime, "inference", CUTOFF)
    assert (again.segments, again.rows) == (0, 0)


def test_prune_by_age(runtime: Runtime) -> None:
    _write_days(runtime, 2)
    assert prune(runtime, "inference", datetime.timedelta(days=3650)).segments == 0
    assert prune(runtime, "inference", datetime.timedelta(0)).segments == 2
    with pytest.raises(ValidationError) as caught:
        prune(runtime, "inference", 30)  # type: ignore[arg-type]
    assert caught.value.field == "older_than"


def test_a_prune_that_stops_half_way_is_finished_by_the_next(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_days(runtime, 3)
    old = [s for s in find_segments(runtime, "inference") if s.day < "2026-01-03"]
    real_remove = runtime.artifacts.remove_tree

    def unreachable(path: str) -> None:
        if path == old[0].path:
            raise OSError("object store unreachable")
        real_remove(path)

    monkeypatch.setattr(runtime.artifacts, "remove_tree", unreachable)
    first = prune(runtime, "inference", CUTOFF)
    assert (first.segments, first.failed) == (1, 1)
    # The segment whose file could not go is marked: readers no longer see it.
    assert [s.day for s in find_segments(runtime, "inference")] == ["2026-01-03"]
    assert runtime.artifacts.exists(old[0].path)
    assert read_events(runtime, "inference").num_rows == 1

    monkeypatch.setattr(runtime.artifacts, "remove_tree", real_remove)
    second = prune(runtime, "inference", CUTOFF)
    assert (second.segments, second.rows, second.failed) == (1, 1, 0)
    assert not runtime.artifacts.exists(old[0].path)


def test_prune_touches_only_its_source(runtime: Runtime) -> None:
    _write_days(runtime, 2)
    other: Any = EventLogWriter(
        runtime, "gateway", INFERENCE_SCHEMA, key_field="endpoint", flush_seconds=3600
    )
    with other:
        other.append(prediction(9, time=DAY0))
    prune(runtime, "inference", CUTOFF)
    assert len(find_segments(runtime, "gateway")) == 1
