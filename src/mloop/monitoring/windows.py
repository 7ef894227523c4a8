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

from collections.abc import Mapping, Sequence
from typing import Literal

import duckdb
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.store.eventlog import reader as _reader
from mloop.store.eventlog import segments as _segments
from mloop.store.eventlog.labels import labels_source
from mloop.store.runtime import Runtime

FeatureKind = Literal["number", "category", "bool"]
"""How a feature is read: a DOUBLE, a VARCHAR, or a BOOLEAN column."""

_SQL_TYPES: dict[str, str] = {"number": "DOUBLE", "category": "VARCHAR", "bool": "BOOLEAN"}
_OUTPUTS_TYPE = '{"predictions": ["JSON"], "probabilities": [["DOUBLE"]], "classes": "JSON"}'
# The columns of the window besides the features, in order.
BASE_COLUMNS = ("request_id", "time", "variant", "model_version", "row")
OUTPUT_COLUMNS = ("prediction", "confidence", "probabilities", "classes", "label")


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
    all when None), one typed column per feature in ``features`` (name to kind)."""
    from mloop.store.eventlog.inference import SOURCE

    kinds = _check_features(features)
    since_ms = _reader.to_ms(since, "since")
    until_ms = _reader.to_ms(until, "until")
    if until_ms <= since_ms:
        raise ValidationError("until must be after since", field="until")
    if isinstance(variants, str):
        raise ValidationError("variants must be a list of variant names", field="variants")

    def plan() -> tuple[list[str], list[str]]:
        uri = runtime.artifacts.uri
        found = _segments.find_segments(
            runtime, SOURCE, keys=[endpoint], since=since_ms, until=until_ms
        )
        label_files: list[str] = []
        if labels:  # labels arrive at any time after their requests: every segment may match
            label_files = [
                uri(s.path) for s in _segments.find_segments(runtime, labels_source(SOURCE))
            ]
        return [uri(s.path) for s in found], label_files

    def query(con: duckdb.DuckDBPyConnection, files: tuple[list[str], list[str]]) -> pa.Table:
        event_files, label_files = files
        if not event_files:
            return _empty(kinds, labels)
        params = {
            "files": event_files,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "endpoint": endpoint,
        }
        with_labels = labels and bool(label_files)
        if with_labels:
            params["label_files"] = label_files
        if variants is not None:
            params["variants"] = list(variants)
        sql = _window_sql(kinds, labels=with_labels, variants=variants is not None)
        return con.sql(sql, params=params).to_arrow_table()

    table = _reader.run_query(runtime, plan, query)
    if labels and "label" not in table.column_names:  # no label segment yet
        table = table.append_column("label", pa.nulls(table.num_rows, pa.string()))
    return table


def _window_sql(kinds: Mapping[str, FeatureKind], *, labels: bool, variants: bool) -> str:
    quote = _reader.quote_identifier
    record_fields = ", ".join(f"recs[i].{quote(name)} AS {quote(name)}" for name in kinds)
    conditions = [
        "time >= $since_ms",
        "time < $until_ms",
        "endpoint = $endpoint",
        "status = 'ok'",
        "starts_with(inputs, '[{')",
    ]
    if variants:
        conditions.append("variant IN (SELECT unnest($variants))")
    label_select = ""
    label_join = ""
    label_cte = ""
    if labels:
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
        "), r AS ("
        "SELECT request_id, time, variant, model_version, i - 1 AS row, len(recs) AS n,"
        f" {record_fields}, outs.predictions[i]::VARCHAR AS prediction,"
        " list_max(outs.probabilities[i]) AS confidence, outs.probabilities[i] AS probabilities,"
        " outs.classes::VARCHAR AS classes"
        " FROM e, LATERAL (SELECT unnest(range(1, len(recs) + 1)) AS i)"
        f"){label_cte} "
        f"SELECT r.request_id, r.time, r.variant, r.model_version, r.row,"
        f" {', '.join('r.' + quote(name) for name in kinds)}, r.prediction, r.confidence,"
        " r.probabilities, r.classes"
        f"{label_select} FROM r{label_join} ORDER BY r.time, r.request_id, r.row"
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
