"""The inference log: every prediction an endpoint serves, as an event log.

The serving domain records each request with :meth:`InferenceLog.record`, which costs the
request a JSON encoding of inputs and outputs and a queue append; segments are partitioned
by endpoint and day. Monitoring, review and retraining read it with :meth:`InferenceLog.read`
and join ground truth attached later (:meth:`InferenceLog.attach_labels`,
:meth:`InferenceLog.read_labeled`).
"""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from mloop.core.timeutil import now_ms
from mloop.store.eventlog import labels as _labels
from mloop.store.eventlog import reader as _reader
from mloop.store.eventlog import retention as _retention
from mloop.store.eventlog.writer import EventLogWriter, WriterStats
from mloop.store.runtime import Runtime

SOURCE = "inference"
KEY_FIELD = "endpoint"

INFERENCE_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("time", pa.int64(), nullable=False),  # ms since the epoch, when it arrived
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("variant", pa.string(), nullable=False),  # e.g. "stable", "canary", "shadow"
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.int64(), nullable=False),
        pa.field("inputs", pa.string(), nullable=False),  # JSON
        pa.field("outputs", pa.string()),  # JSON; null when the request failed
        pa.field("confidence", pa.float64()),  # null when the model gives none
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # "ok", "error", "invalid"
        pa.field("error", pa.string()),  # what went wrong, when status is not "ok"
    ]
)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()


def _float(value: Any) -> Any:
    """numpy's float32 and integers as Python floats (a model's 1 is a confidence of 1.0);
    anything else is left for the writer's check to name."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


@dataclass
class InferenceRecord:
    """One served request. ``inputs`` and ``outputs`` are any JSON-able values (numpy
    arrays included); they are stored as JSON text."""

    request_id: str
    endpoint: str
    variant: str
    model_name: str
    model_version: int
    inputs: Any
    outputs: Any
    latency_ms: float
    status: str = "ok"
    confidence: float | None = None
    error: str | None = None
    time: int = field(default_factory=now_ms)

    def to_row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "time": self.time,
            "endpoint": self.endpoint,
            "variant": self.variant,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "inputs": _json(self.inputs),
            "outputs": None if self.outputs is None else _json(self.outputs),
            "confidence": _float(self.confidence),
            "latency_ms": _float(self.latency_ms),
            "status": self.status,
            "error": self.error,
        }


class InferenceLog:
    """The inference log of one process: a writer plus the readers, labels and retention.

    Writer options (``max_queue``, ``flush_rows``, ``flush_seconds``) are
    :class:`~mloop.store.eventlog.writer.EventLogWriter`'s; the writer starts on the first
    record, so a process that only reads starts no thread.
    """

    def __init__(self, runtime: Runtime, **writer_options: Any) -> None:
        self._runtime = runtime
        self._writer_options = writer_options
        self._writer: EventLogWriter | None = None

    @property
    def writer(self) -> EventLogWriter:
        if self._writer is None:
            self._writer = EventLogWriter(
                self._runtime,
                SOURCE,
                INFERENCE_SCHEMA,
                key_field=KEY_FIELD,
                **self._writer_options,
            )
        return self._writer

    @property
    def stats(self) -> WriterStats:
        return self.writer.stats

    def record(self, record: InferenceRecord) -> bool:
        """Queue one request's record; False when the queue was full (counted, dropped)."""
        return self.writer.append(record.to_row())

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def read(
        self,
        *,
        endpoints: Sequence[str] | None = None,
        since: _reader.TimeLike | None = None,
        until: _reader.TimeLike | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        return _reader.read_events(
            self._runtime,
            SOURCE,
            keys=endpoints,
            since=since,
            until=until,
            columns=columns,
            where=where,
            params=params,
            schema=INFERENCE_SCHEMA,
        )

    def attach_labels(
        self, labels: Iterable[_labels.LabelLike], *, origin: str | None = None
    ) -> int:
        return _labels.attach_labels(self._runtime, SOURCE, labels, origin=origin)

    def read_labeled(
        self,
        *,
        endpoints: Sequence[str] | None = None,
        since: _reader.TimeLike | None = None,
        until: _reader.TimeLike | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        return _labels.read_labeled_events(
            self._runtime,
            SOURCE,
            keys=endpoints,
            since=since,
            until=until,
            columns=columns,
            where=where,
            params=params,
        )

    def prune(self, older_than: datetime.timedelta | datetime.datetime) -> _retention.PruneResult:
        """Delete predictions, and labels, older than ``older_than``."""
        result = _retention.prune(self._runtime, SOURCE, older_than)
        _retention.prune(self._runtime, _labels.labels_source(SOURCE), older_than)
        return result
