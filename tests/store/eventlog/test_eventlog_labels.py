"""Labels attached later by request id, joined to the events: the latest label wins."""

from __future__ import annotations

import pytest
from tests.store.eventlog.helpers import DAY0, HOUR, prediction

from mloop.core.errors import ValidationError
from mloop.store.eventlog import (
    INFERENCE_SCHEMA,
    EventLogWriter,
    attach_labels,
    find_segments,
    read_labeled_events,
)
from mloop.store.runtime import Runtime


def _write(runtime: Runtime, n: int) -> None:
    with EventLogWriter(
        runtime, "inference", INFERENCE_SCHEMA, key_field="endpoint", flush_seconds=3600
    ) as writer:
        for i in range(n):
            writer.append(prediction(i))


def test_events_join_their_latest_label(any_runtime: Runtime) -> None:
    _write(any_runtime, 4)
    assert attach_labels(any_runtime, "inference", [("req-0", 1, DAY0 + HOUR), ("req-1", 1)])
    # Later: a reviewer corrects req-0 (a later time wins, whenever it was attached) ...
    attach_labels(
        any_runtime,
        "inference",
        [{"request_id": "req-0", "label": 0, "time": DAY0 + 2 * HOUR}],
        origin="review",
    )
    # ... an older answer arriving late does not override it ...
    attach_labels(any_runtime, "inference", [("req-0", 7, DAY0 + HOUR)])
    # ... and of two answers with the same time, the one attached last wins.
    attach_labels(any_runtime, "inference", [("req-2", {"churned": True}, DAY0)])
    attach_labels(any_runtime, "inference", [("req-2", {"churned": False}, DAY0)])

    table = read_labeled_events(any_runtime, "inference", columns=["request_id", "endpoint"])
    assert table.schema.names == ["request_id", "endpoint", "label", "label_time"]
    rows = {r["request_id"]: (r["label"], r["label_time"]) for r in table.to_pylist()}
    assert rows["req-0"] == ("0", DAY0 + 2 * HOUR)
    assert rows["req-1"][0] == "1"
    assert rows["req-2"] == ('{"churned":false}', DAY0)
    assert rows["req-3"] == (None, None)
    assert {s.partition_key for s in find_segments(any_runtime, "inference-labels")} == {"all"}


def test_events_without_labels_have_null_labels(runtime: Runtime) -> None:
    _write(runtime, 2)
    table = read_labeled_events(
        runtime, "inference", where="request_id = $id", params={"id": "req-1"}
    )
    assert table.column("label").to_pylist() == [None]
    assert table.column("request_id").to_pylist() == ["req-1"]


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ([("req-0", 1), ("", 1)], "labels[1].request_id"),
        ([("req-0", 1), ("req-1", None)], "labels[1].label"),
        ([("req-0", object())], "labels[0].label"),
        ([{"request_id": "req-0", "value": 1}], "labels[0].value"),
        ([("req-0", 1, "noon")], "labels[0].time"),
        (["req-0"], "labels[0]"),
    ],
)
def test_a_bad_label_stores_none_of_the_batch(
    runtime: Runtime, labels: list[object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        attach_labels(runtime, "inference", labels)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert find_segments(runtime, "inference-labels") == []
