"""Event logs: high-volume records (predictions, labels) stored as Parquet segments.

Records are appended off the request path (:class:`EventLogWriter`), written as Parquet
segments in the artifact store partitioned by source, key and day, indexed in the metadata
database (``tables``), read with DuckDB over just the segments a question needs
(:func:`read_events`), joined with labels that arrive later (``labels``) and deleted by
age (:func:`prune`). ``inference`` is the serving domain's inference log built on them.
Everything but ``tables`` needs the ``data`` extra (pyarrow, DuckDB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "EventLogWriter": "mloop.store.eventlog.writer",
    "WriterStats": "mloop.store.eventlog.writer",
    "Segment": "mloop.store.eventlog.segments",
    "find_segments": "mloop.store.eventlog.segments",
    "write_segments": "mloop.store.eventlog.segments",
    "read_events": "mloop.store.eventlog.reader",
    "prune": "mloop.store.eventlog.retention",
    "PruneResult": "mloop.store.eventlog.retention",
    "LABEL_SCHEMA": "mloop.store.eventlog.labels",
    "attach_labels": "mloop.store.eventlog.labels",
    "labels_source": "mloop.store.eventlog.labels",
    "read_labeled_events": "mloop.store.eventlog.labels",
    "INFERENCE_SCHEMA": "mloop.store.eventlog.inference",
    "InferenceLog": "mloop.store.eventlog.inference",
    "InferenceRecord": "mloop.store.eventlog.inference",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.store.eventlog.inference import INFERENCE_SCHEMA, InferenceLog, InferenceRecord
    from mloop.store.eventlog.labels import (
        LABEL_SCHEMA,
        attach_labels,
        labels_source,
        read_labeled_events,
    )
    from mloop.store.eventlog.reader import read_events
    from mloop.store.eventlog.retention import PruneResult, prune
    from mloop.store.eventlog.segments import Segment, find_segments, write_segments
    from mloop.store.eventlog.writer import EventLogWriter, WriterStats
