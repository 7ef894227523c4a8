"""Reading: segments land partitioned by key and day, and a read opens only those the
index says can hold the answer."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from tests.store.eventlog.helpers import DAY, DAY0, HOUR, prediction

from mloop.core.errors import ValidationError
from mloop.store.eventlog import (
    INFERENCE_SCHEMA,
    EventLogWriter,
    find_segments,
    read_events,
    reader,
    segments,
)
from mloop.store.runtime import Runtime


def _write_two_endpoints_over_three_days(runtime: Runtime) -> None:
    with EventLogWriter(
        runtime, "inference", INFERENCE_SCHEMA, key_field="endpoint", flush_seconds=3600
    ) as writer:
        n = 0
        for day in range(3):
            for endpoint in ("churn", "fraud/v2"):
                for hour in (1, 13):
                    writer.append(
                        prediction(n, endpoint=endpoint, time=DAY0 + day * DAY + hour * HOUR)
                    )
                    n += 1


def test_segments_are_partitioned_by_key_and_day(any_runtime: Runtime) -> None:
    _write_two_endpoints_over_three_days(any_runtime)
    files = [e.path for e in any_runtime.artifacts.walk("eventlog/inference")]
    folders = sorted({f.rsplit("/", 1)[0] for f in files})
    assert folders == [
        f"eventlog/inference/{key}/2026-01-0{day}"
        for key in ("churn", "fraud%2Fv2")
        for day in (1, 2, 3)
    ]
    indexed = find_segments(any_runtime, "inference")
    assert sorted(s.path for s in indexed) == sorted(files)
    assert all(s.row_count == 2 and s.size_bytes > 0 for s in indexed)
    assert {(s.partition_key, s.day) for s in indexed} == {
        (k, f"2026-01-0{d}") for k in ("churn", "fraud/v2") for d in (1, 2, 3)
    }


def test_a_read_opens_only_the_segments_that_overlap(
    any_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_two_endpoints_over_three_days(any_runtime)
    planned: list[list[segments.Segment]] = []
    opened: list[list[str]] = []
    real_find, real_columns = segments.find_segments, reader.columns_of

    def find_spy(*args: Any, **kwargs: Any) -> list[segments.Segment]:
        planned.append(real_find(*args, **kwargs))
        return planned[-1]

    def columns_spy(con: Any, files: list[str]) -> list[str]:
        opened.append(files)
        return real_columns(con, files)

    monkeypatch.setattr(segments, "find_segments", find_spy)
    monkeypatch.setattr(reader, "columns_of", columns_spy)

    since = DAY0 + DAY + 12 * HOUR  # day 2, 12:00: the 01:00 event of day 2 is out
    table = read_events(
        any_runtime,
        "inference",
        keys=["fraud/v2"],
        since=since,
        until=datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC),
        columns=["endpoint", "time"],
    )
    assert [(s.partition_key, s.day) for s in planned[-1]] == [("fraud/v2", "2026-01-02")]
    assert opened[-1] == [any_runtime.artifacts.uri(planned[-1][0].path)]
    assert table.to_pylist() == [{"endpoint": "fraud/v2", "time": DAY0 + DAY + 13 * HOUR}]
    assert table.schema.names == ["endpoint", "time"]


def test_where_and_params_filter_rows(runtime: Runtime) -> None:
    _write_two_endpoints_over_three_days(runtime)
    table = read_events(
        runtime, "inference", where="request_id IN ($a, $b)", params={"a": "req-0", "b": "req-5"}
    )
    assert table.column("request_id").to_pylist() == ["req-0", "req-5"]


def test_nothing_matching_gives_an_empty_table_of_the_schema(runtime: Runtime) -> None:
    empty = read_events(runtime, "inference", schema=INFERENCE_SCHEMA, columns=["request_id"])
    assert empty.num_rows == 0 and empty.schema.names == ["request_id"]
    assert read_events(runtime, "inference").num_rows == 0


def test_bad_reads_name_the_field(runtime: Runtime) -> None:
    _write_two_endpoints_over_three_days(runtime)
    with pytest.raises(ValidationError, match="'colour' is not in the inference event log") as e:
        read_events(runtime, "inference", columns=["request_id", "colour"])
    assert e.value.field == "columns"
    with pytest.raises(ValidationError, match="invalid") as e:
        read_events(runtime, "inference", where="no_such_column > 1")
    assert e.value.field == "where"
    with pytest.raises(ValidationError) as e:
        read_events(runtime, "inference", since="yesterday")  # type: ignore[arg-type]
    assert e.value.field == "since"
    with pytest.raises(ValidationError) as e:
        read_events(runtime, "inference", keys="churn")
    assert e.value.field == "keys"


def test_a_segment_deleted_between_plan_and_read_is_planned_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention may delete a segment after a reader chose it: the reader plans once more
    rather than failing on the missing file."""
    _write_two_endpoints_over_three_days(runtime)
    real_find = segments.find_segments
    stale = real_find(runtime, "inference")
    gone = stale[0]
    runtime.artifacts.remove_tree(gone.path)
    calls = {"n": 0}

    def first_stale(*args: Any, **kwargs: Any) -> list[segments.Segment]:
        calls["n"] += 1
        return stale if calls["n"] == 1 else [s for s in stale if s.id != gone.id]

    monkeypatch.setattr(segments, "find_segments", first_stale)
    assert read_events(runtime, "inference").num_rows == 12 - gone.row_count
    assert calls["n"] == 2
