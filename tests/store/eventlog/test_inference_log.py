"""The inference log: the typed record the serving domain logs, read back with its labels."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest
from tests.store.eventlog.helpers import DAY0

from mloop.core.errors import ValidationError
from mloop.store.eventlog import INFERENCE_SCHEMA, InferenceLog, InferenceRecord, find_segments
from mloop.store.runtime import Runtime


def _record(i: int, **changes: object) -> InferenceRecord:
    record = InferenceRecord(
        request_id=f"req-{i}",
        endpoint="churn",
        variant="canary" if i % 2 else "stable",
        model_name="churn-model",
        model_version=7,
        inputs={"tenure": np.int64(12), "scores": np.array([0.5, 1.5])},
        outputs={"label": 1, "probabilities": [0.2, 0.8]},
        latency_ms=2.5,
        confidence=np.float64(0.8),
        time=DAY0 + i,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_records_round_trip_with_json_inputs_and_outputs(any_runtime: Runtime) -> None:
    log = InferenceLog(any_runtime, flush_seconds=3600)
    assert log.record(_record(0)) and log.record(_record(1))
    log.record(_record(2, status="error", outputs=None, confidence=None, error="model raised"))
    log.close()
    rows = log.read().to_pylist()
    assert [r["variant"] for r in rows] == ["stable", "canary", "stable"]
    assert json.loads(rows[0]["inputs"]) == {"tenure": 12, "scores": [0.5, 1.5]}
    assert json.loads(rows[0]["outputs"]) == {"label": 1, "probabilities": [0.2, 0.8]}
    assert rows[0]["confidence"] == 0.8 and rows[0]["model_version"] == 7
    assert (rows[2]["status"], rows[2]["outputs"], rows[2]["error"]) == (
        "error",
        None,
        "model raised",
    )
    assert [s.partition_key for s in find_segments(any_runtime, "inference")] == ["churn"]


def test_labels_and_retention_through_the_log(runtime: Runtime) -> None:
    log = InferenceLog(runtime, flush_seconds=3600)
    for i in range(3):
        log.record(_record(i))
    log.flush()
    assert log.attach_labels([("req-1", 0)], origin="user") == 1
    labeled = log.read_labeled(columns=["request_id"], endpoints=["churn"])
    assert labeled.column("label").to_pylist() == [None, "0", None]
    result = log.prune(datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC))
    assert result.rows == 3
    # The label is newer than the cutoff and stays; the events are gone.
    assert len(find_segments(runtime, "inference-labels")) == 1
    assert log.read().num_rows == 0 and log.read().schema == INFERENCE_SCHEMA
    log.close()


def test_a_bad_record_names_the_field(runtime: Runtime) -> None:
    log = InferenceLog(runtime)
    with pytest.raises(ValidationError) as caught:
        log.record(_record(0, endpoint=None))
    assert caught.value.field == "endpoint"
    with pytest.raises(ValidationError) as caught:
        log.record(_record(0, model_version="7"))
    assert caught.value.field == "model_version"
    with pytest.raises(ValidationError) as caught:
        log.record(_record(0, latency_ms="fast"))
    assert caught.value.field == "latency_ms"
    assert log.record(_record(0, confidence=np.float32(0.5), latency_ms=3))
    log.close()


def test_a_reading_process_starts_no_writer(runtime: Runtime) -> None:
    log = InferenceLog(runtime)
    assert log.read().num_rows == 0
    log.close()
    assert log._writer is None
