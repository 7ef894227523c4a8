"""One window of an endpoint's inference log as a table of rows, read with DuckDB.

The log keeps one event per request, its inputs as JSON records (``[{"col": value}, ...]``)
and its outputs as ``{"predictions": [...], "probabilities": [[...]], "classes": [...]}``. A
window becomes one row per predicted row: the request's id, time, variant and model version,
the row's index in its request, one typed column per feature asked for, the prediction (as
JSON text, since a model may predict numbers or labels), the row's confidence (its highest
class probability), its class probabilities and the classes they are of (JSON text), and
with ``labels=True`` the row's label (JSON text; a request labelled with a list of one label
per row gives each row its own).

Only the segments of the window's days and time range are opened (the segment index), and
only the columns the query names are read from them (DuckDB's Parquet reader); the JSON is
parsed by DuckDB, not in Python. Requests that failed (status other than ``ok``) and rows
sent without column names are left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

import duckdb
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.monitoring.schemas import BASE_COLUMNS, OUTPUT_COLUMNS
from mloop.store.eventlog import reader as _reader
from mloop.store.eventlog import segments as _segments
from mloop.store.eventlog.labels import labels_source
from mloop.store.runtime import Runtime

DEFAULT_BATCH_ROWS = 65_536

FeatureKind = Literal["number", "category", "bool"]
"""How a feature is read: a DOUBLE, a VARCHAR, or a BOOLEAN column."""

_SQL_TYPES: dict[str, str] = {"number": "DOUBLE", "category": "VARCHAR", "bool": "BOOLEAN"}
_OUTPUTS_TYPE = '{"predictions": ["JSON"], "probabilities": [["DOUBLE"]], "classes": "JSON"}'


def _json_string(text: str) -> str:
    """``text`` as a JSON string literal inside a SQL string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("'", "''") + '"'


def _records_type(features: Mapping[str, FeatureKind]) -> str:
    fields = ", ".join(
        f"{_json_string(name)}: {_json_string(_SQL_TYPES[kind])}" for name, kind in features.items()
    )
    return "[{" + fields + "}]"


def _check_features(features: Mapping[str, str]) -> dict[str, FeatureKind]:
    if not features:
        raise ValidationError("name at least one feature to read", field="features")
    checked: dict[str, FeatureKind] = {}
    for name, kind in features.items():
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ValidationError(f"feature name {name!r} is not valid", field="features")
        if name in BASE_COLUMNS or name in OUTPUT_COLUMNS:
            raise ValidationError(
                f"feature {name!r} has the name of a window column; rename it in the "
                "monitor's columns",
                field=f"features.{name}",
            )
        if kind not in _SQL_TYPES:
            raise ValidationError(
                f"feature {name!r} has kind {kind!r}; use one of {', '.join(_SQL_TYPES)}",
                field=f"features.{name}",
            )
        checked[name] = kind  # type: ignore[assignment]
    return checked


def _checked_args(
    features: Mapping[str, str],
    since: _reader.TimeLike,
    until: _reader.TimeLike,
    variants: Sequence[str] | None,
) -> tuple[dict[str, FeatureKind], int, int]:
    kinds = _check_features(features)
    since_ms = _reader.to_ms(since, "since")
    until_ms = _reader.to_ms(until, "until")
    if until_ms <= since_ms:
        raise ValidationError("until must be after since", field="until")
    if isinstance(variants, str):
        raise ValidationError("variants must be a list of variant names", field="variants")
    return kinds, since_ms, until_ms


def _files(
    runtime: Runtime, endpoint: str, since_ms: int, until_ms: int, labels: bool
) -> tuple[list[str], list[str]]:
    from mloop.store.eventlog.inference import SOURCE

    uri = runtime.artifacts.uri
    found = _segments.find_segments(
        runtime, SOURCE, keys=[endpoint], since=since_ms, until=until_ms
    )
    label_files: list[str] = []
    if labels:  # labels arrive at any time after their requests: every segment may match
        label_files = [uri(s.path) for s in _segments.find_segments(runtime, labels_source(SOURCE))]
    return [uri(s.path) for s in found], label_files


@contextmanager
def open_window(
    runtime: Runtime,
    endpoint: str,
    *,
    since: _reader.TimeLike,
    until: _reader.TimeLike,
    features: Mapping[str, str],
    variants: Sequence[str] | None = None,
    labels: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatchReader]:
    """The window's rows as a stream of record batches of at most ``batch_rows`` rows (the
    columns of :func:`read_window`, in no particular order), so that a window of millions
    of rows is summarised with flat memory. The stream is read while the block runs."""
    kinds, since_ms, until_ms = _checked_args(features, since, until, variants)
    event_files, label_files = _files(runtime, endpoint, since_ms, until_ms, labels)
    if not event_files:
        empty = _empty(kinds, labels)
        yield pa.RecordBatchReader.from_batches(empty.schema, empty.to_batches())
        return
    con = _reader.connect(runtime)
    try:
        params: dict[str, object] = {
            "files": event_files,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "endpoint": endpoint,
        }
        if labels and label_files:
            params["label_files"] = label_files
        if variants is not None:
            params["variants"] = list(variants)
        sql = _window_sql(
            kinds,
            labels=labels,
            label_files=bool(label_files),
            variants=variants is not None,
            ordered=False,
        )
        yield con.sql(sql, params=params).to_arrow_reader(batch_rows)
    finally:
        con.close()


def read_window(
    runtime: Runtime,
    endpoint: str,
    *,
    since: _reader.TimeLike,
    until: _reader.TimeLike,
    features: Mapping[str, str],
    variants: Sequence[str] | None = None,
    labels: bool = False,
) -> pa.Table:
    """The rows predicted by ``endpoint`` with ``since <= time < until`` (of ``variants``,
    all when None), one typed column per feature in ``features`` (name to kind), in time
    order."""
    kinds, since_ms, until_ms = _checked_args(features, since, until, variants)

    def plan() -> tuple[list[str], list[str]]:
        return _files(runtime, endpoint, since_ms, until_ms, labels)

    def query(con: duckdb.DuckDBPyConnection, files: tuple[list[str], list[str]]) -> pa.Table:
        event_files, label_files = files
        if not event_files:
            return _empty(kinds, labels)
        params: dict[str, object] = {
            "files": event_files,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "endpoint": endpoint,
        }
        if labels and label_files:
            params["label_files"] = label_files
        if variants is not None:
            params["variants"] = list(variants)
        sql = _window_sql(
            kinds,
            labels=labels,
            label_files=bool(label_files),
            variants=variants is not None,
            ordered=True,
        )
        return con.sql(sql, params=params).to_arrow_table()

    return _reader.run_query(runtime, plan, query)


def _window_sql(
    kinds: Mapping[str, FeatureKind],
    *,
    labels: bool,
    label_files: bool,
    variants: bool,
    ordered: bool,
) -> str:
    quote = _reader.quote_identifier
    conditions = [
        "time >= $since_ms",
        "time < $until_ms",
        "endpoint = $endpoint",
        "status = 'ok'",
        "starts_with(inputs, '[{')",
    ]
    if variants:
        conditions.append("variant IN (SELECT unnest($variants))")
    label_select = ", NULL::VARCHAR AS label" if labels else ""
    label_join = ""
    label_cte = ""
    if labels and label_files:
        label_cte = (
            ", l AS (SELECT request_id, arg_max(label, (time, filename, file_row_number)) AS"
            " label FROM read_parquet($label_files, union_by_name = true, filename = true,"
            " file_row_number = true) GROUP BY request_id)"
        )
        label_join = " LEFT JOIN l ON l.request_id = r.request_id"
        # A list with one label per row labels each row; anything else labels the request.
        label_select = (
            ", CASE WHEN json_type(l.label) = 'ARRAY' AND json_array_length(l.label) = r.n"
            " THEN json_extract(l.label, '$[' || r.row || ']')::VARCHAR"
            " ELSE l.label END AS label"
        )
    return (
        "WITH e AS ("
        "SELECT request_id, time, variant, model_version,"
        f" from_json(inputs, '{_records_type(kinds)}') AS recs,"
        f" from_json(outputs, '{_OUTPUTS_TYPE}') AS outs"
        f" FROM {_reader.parquet_relation('files')} WHERE {' AND '.join(conditions)}"
        # Unnests side by side zip a request's rows with its predictions; this streams,
        # where indexing the lists row by row (a lateral join) held the window in memory.
        "), r AS ("
        "SELECT request_id, time, variant, model_version, len(recs) AS n,"
        " unnest(range(len(recs))) AS row, unnest(recs, recursive := true),"
        " unnest(outs.predictions)::VARCHAR AS prediction,"
        " unnest(list_transform(outs.probabilities, lambda p: list_max(p))) AS confidence,"
        " unnest(outs.probabilities) AS probabilities, outs.classes::VARCHAR AS classes"
        " FROM e"
        f"){label_cte} "
        f"SELECT r.request_id, r.time, r.variant, r.model_version, r.row,"
        f" {', '.join('r.' + quote(name) for name in kinds)}, r.prediction, r.confidence,"
        " r.probabilities, r.classes"
        f"{label_select} FROM r{label_join}"
        + (" ORDER BY r.time, r.request_id, r.row" if ordered else "")
    )


def _empty(kinds: Mapping[str, FeatureKind], labels: bool) -> pa.Table:
    arrow = {"number": pa.float64(), "category": pa.string(), "bool": pa.bool_()}
    fields = [
        pa.field("request_id", pa.string()),
        pa.field("time", pa.int64()),
        pa.field("variant", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("row", pa.int64()),
        *(pa.field(name, arrow[kind]) for name, kind in kinds.items()),
        pa.field("prediction", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("probabilities", pa.list_(pa.float64())),
        pa.field("classes", pa.string()),
    ]
    if labels:
        fields.append(pa.field("label", pa.string()))
    return pa.schema(fields).empty_table()
