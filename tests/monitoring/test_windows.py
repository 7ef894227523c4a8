"""Reading a window of an endpoint's inference log as typed rows (mloop.monitoring.windows)."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.windows import read_window
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000  # a fixed time, ms since the epoch

FEATURES = {"age": "number", "region": "category", "member": "bool"}


def _record(
    request_id: str,
    time: int,
    inputs: Any,
    outputs: Any,
    *,
    endpoint: str = "churn",
    variant: str = "stable",
    status: str = "ok",
) -> InferenceRecord:
    return InferenceRecord(
        request_id=request_id,
        endpoint=endpoint,
        variant=variant,
        model_name="churn",
        model_version=3,
        inputs=inputs,
        outputs=outputs,
        latency_ms=1.0,
        status=status,
        time=time,
    )


@pytest.fixture
def logged(runtime: Runtime) -> InferenceLog:
    log = InferenceLog(runtime, flush_seconds=3600)
    one = [{"age": 31, "region": "north", "member": True}]
    two = [{"age": 40.5, "region": "south", "member": False}, {"age": 22, "region": "north"}]
    records = [
        _record(
            "r1",
            T0 + 10,
            one,
            {"predictions": [1], "probabilities": [[0.2, 0.8]], "classes": [0, 1]},
        ),
        _record("r2", T0 + 20, two, {"predictions": ["no", "yes"], "probabilities": None}),
        _record("r3", T0 + 30, one, {"predictions": [0]}, variant="canary"),
        _record("r4", T0 + 40, one, None, status="error"),  # failed: left out
        _record("r5", T0 + 50, [[1, 2, 3]], {"predictions": [1]}),  # no names: left out
        _record("r6", T0 + HOUR, one, {"predictions": [1]}),  # the next window
        _record("r7", T0 + 60, one, {"predictions": [1]}, endpoint="other"),
    ]
    for record in records:
        assert log.record(record)
    log.flush()
    log.attach_labels([("r1", 1), ("r2", ["no", "no"]), ("r3", 0), ("r3", 1)])
    return log


def test_one_row_per_predicted_row_with_typed_features(
    runtime: Runtime, logged: InferenceLog
) -> None:
    table = read_window(runtime, "churn", since=T0, until=T0 + HOUR, features=FEATURES)
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"]) for r in rows] == [
        ("r1", 0),
        ("r2", 0),
        ("r2", 1),
        ("r3", 0),
    ]
    assert [r["age"] for r in rows] == [31.0, 40.5, 22.0, 31.0]
    assert [r["region"] for r in rows] == ["north", "south", "north", "north"]
    assert [r["member"] for r in rows] == [True, False, None, True]  # a missing key is null
    assert [r["prediction"] for r in rows] == ["1", '"no"', '"yes"', "0"]
    assert [r["confidence"] for r in rows] == [0.8, None, None, None]
    assert [r["probabilities"] for r in rows] == [[0.2, 0.8], None, None, None]
    assert [r["classes"] for r in rows] == ["[0,1]", None, None, None]
    assert table.schema.field("age").type == "double"
    assert "label" not in table.column_names


def test_variants_and_labels(runtime: Runtime, logged: InferenceLog) -> None:
    table = read_window(
        runtime,
        "churn",
        since=T0,
        until=T0 + HOUR,
        features={"age": "number"},
        variants=["stable"],
        labels=True,
    )
    rows = table.to_pylist()
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r2"]
    # r2 was labelled with one label per row; the latest label of r3 would be 1.
    assert [r["label"] for r in rows] == ["1", '"no"', '"no"']
    canary = read_window(
        runtime,
        "churn",
        since=T0,
        until=T0 + HOUR,
        features={"age": "number"},
        variants=["canary"],
        labels=True,
    )
    assert canary.column("label").to_pylist() == ["1"]


def test_an_empty_window_has_the_columns(runtime: Runtime) -> None:
    table = read_window(runtime, "churn", since=T0, until=T0 + HOUR, features=FEATURES, labels=True)
    assert table.num_rows == 0
    assert table.column_names == [
        "request_id",
        "time",
        "variant",
        "model_version",
        "row",
        "age",
        "region",
        "member",
        "prediction",
        "confidence",
        "probabilities",
        "classes",
        "label",
    ]


@pytest.mark.parametrize(
    ("features", "field", "words"),
    [
        ({}, "features", "at least one feature"),
        ({"age": "float"}, "features.age", "use one of number, category, bool"),
        ({"prediction": "number"}, "features.prediction", "name of a window column"),
        ({"a\x00b": "number"}, "features", "not valid"),
    ],
)
def test_bad_features_are_refused(
    runtime: Runtime, features: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        read_window(runtime, "churn", since=T0, until=T0 + HOUR, features=features)
    assert raised.value.field == field and words in raised.value.message


def test_a_window_must_end_after_it_starts(runtime: Runtime) -> None:
    with pytest.raises(ValidationError, match="until must be after since"):
        read_window(runtime, "churn", since=T0, until=T0, features={"age": "number"})


def test_names_needing_quotes_are_read(runtime: Runtime) -> None:
    log = InferenceLog(runtime, flush_seconds=3600)
    odd = {'it\'s "x"': 1.5, "a.b": 2.0}
    log.record(_record("q1", T0, [odd], {"predictions": [0]}))
    log.flush()
    table = read_window(
        runtime, "churn", since=T0, until=T0 + 1, features={'it\'s "x"': "number", "a.b": "number"}
    )
    assert table.select(['it\'s "x"', "a.b"]).to_pylist() == [odd]
