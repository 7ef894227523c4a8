"""Labels: ground truth attached to logged events later, by request id.

Labels are an event log of their own (``<source>-labels``), appended in bulk, so attaching
a million labels from a file is a few segment writes and never rewrites the events. A
request may be labelled several times (a reviewer corrects a user): readers take the label
with the latest time, and among equal times the one attached last.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import duckdb
import orjson
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.store.eventlog import reader as _reader
from mloop.store.eventlog import segments as _segments
from mloop.store.runtime import Runtime

LABEL_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("time", pa.int64(), nullable=False),  # ms since the epoch
        pa.field("label", pa.string(), nullable=False),  # the ground truth, as JSON
        pa.field("origin", pa.string()),  # who said so: "api", "review", a file name
    ]
)

LabelLike: TypeAlias = (
    tuple[str, Any] | tuple[str, Any, int | datetime.datetime | None] | Mapping[str, Any]
)
"""``(request_id, label)``, ``(request_id, label, time)`` or a mapping with those keys."""

_BATCH_ROWS = 100_000


def labels_source(source: str) -> str:
    return f"{_segments.check_source(source)}-labels"


def _label_row(item: LabelLike, index: int, origin: str | None, now: int) -> dict[str, Any]:
    where = f"labels[{index}]"
    if isinstance(item, Mapping):
        unknown = set(item) - {"request_id", "label", "time"}
        if unknown:
            raise ValidationError(
                f"{where} has unknown key {sorted(unknown)[0]!r}; use request_id, label, time",
                field=f"{where}.{sorted(unknown)[0]}",
            )
        if "label" not in item:
            raise ValidationError(f"{where}.label is required", field=f"{where}.label")
        request_id, label, time = item.get("request_id"), item["label"], item.get("time")
    elif isinstance(item, tuple | list) and len(item) in (2, 3):
        request_id, label = item[0], item[1]
        time = item[2] if len(item) == 3 else None
    else:
        raise ValidationError(
            f"{where} must be (request_id, label), (request_id, label, time) or a mapping",
            field=where,
        )
    if not isinstance(request_id, str) or not request_id:
        raise ValidationError(
            f"{where}.request_id must be a non-empty string", field=f"{where}.request_id"
        )
    if label is None:
        raise ValidationError(f"{where}.label must not be null", field=f"{where}.label")
    try:
        label_json = orjson.dumps(label, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError as exc:
        raise ValidationError(
            f"{where}.label cannot be stored as JSON: {exc}", field=f"{where}.label"
        ) from exc
    time_ms = now if time is None else _reader.to_ms(time, f"{where}.time")
    return {"request_id": request_id, "time": time_ms, "label": label_json, "origin": origin}


def attach_labels(
    runtime: Runtime,
    source: str,
    labels: Iterable[LabelLike],
    *,
    origin: str | None = None,
) -> int:
    """Store ``labels`` for events of ``source``; returns how many. Every label is checked
    before any is stored, so a bad one (named by its index) stores none."""
    target = labels_source(source)
    if origin is not None and not isinstance(origin, str):
        raise ValidationError("origin must be a string", field="origin")
    now = now_ms()
    rows = [_label_row(item, i, origin, now) for i, item in enumerate(labels)]
    for start in range(0, len(rows), _BATCH_ROWS):
        table = pa.Table.from_pylist(rows[start : start + _BATCH_ROWS], schema=LABEL_SCHEMA)
        _segments.write_segments(runtime, target, table, key_field=None)
    return len(rows)


def read_labeled_events(
    runtime: Runtime,
    source: str,
    *,
    keys: Sequence[str] | None = None,
    since: _reader.TimeLike | None = None,
    until: _reader.TimeLike | None = None,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
    id_field: str = "request_id",
    time_field: str = "time",
) -> pa.Table:
    """Like :func:`~mloop.store.eventlog.reader.read_events`, with two more columns: the
    latest ``label`` (JSON, null when none) of each event and its ``label_time``. Events
    without an id column, or none at all, give an empty table."""
    _segments.check_source(source)
    since_ms = None if since is None else _reader.to_ms(since, "since")
    until_ms = None if until is None else _reader.to_ms(until, "until")
    label_log = labels_source(source)

    def plan() -> tuple[list[str], list[str]]:
        uri = runtime.artifacts.uri
        events = _segments.find_segments(runtime, source, keys=keys, since=since_ms, until=until_ms)
        # Labels arrive at any time after their events: every label segment may match.
        labels = _segments.find_segments(runtime, label_log)
        return [uri(s.path) for s in events], [uri(s.path) for s in labels]

    def query(con: duckdb.DuckDBPyConnection, files: tuple[list[str], list[str]]) -> pa.Table:
        event_files, label_files = files
        if not event_files:
            return pa.table({})
        quote = _reader.quote_identifier
        available = _reader.columns_of(con, event_files)
        selected = available if columns is None else list(columns)
        _reader.check_columns([*selected, id_field], available, source)
        inner = [c for c in dict.fromkeys([*selected, id_field, time_field]) if c in available]
        conditions, values = _reader.time_condition(time_field, since_ms, until_ms)
        if where:
            conditions.append(f"({where})")
        events = (
            f"SELECT {', '.join(map(quote, inner))} FROM {_reader.parquet_relation('files')}"
            + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
        )
        if label_files:
            latest = (
                "SELECT request_id, arg_max(label, (time, filename, file_row_number)) AS label,"
                " max(time) AS label_time FROM read_parquet($label_files, union_by_name = true,"
                " filename = true, file_row_number = true) GROUP BY request_id"
            )
            values["label_files"] = label_files
        else:
            latest = (
                "SELECT NULL::VARCHAR AS request_id, NULL::VARCHAR AS label,"
                " NULL::BIGINT AS label_time WHERE false"
            )
        order = f" ORDER BY e.{quote(time_field)}" if time_field in available else ""
        sql = (
            f"WITH e AS ({events}), l AS ({latest}) "
            f"SELECT {', '.join('e.' + quote(c) for c in selected)}, l.label, l.label_time "
            f"FROM e LEFT JOIN l ON e.{quote(id_field)} = l.request_id{order}"
        )
        values = {**(params or {}), **values, "files": event_files}
        return con.sql(sql, params=values).to_arrow_table()

    return _reader.run_query(runtime, plan, query)
