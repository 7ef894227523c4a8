"""A view's rows as a stream of Arrow batches, for materialization into the online store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.features.catalog import View
from mloop.features.offline.read import CREATED, TS, Reader
from mloop.features.offline.timestamps import bound_micros, connect, quote

BATCH_ROWS = 64 * 1024
EVENT_TIMESTAMP = "event_timestamp"
CREATED_COLUMN = "created"


def read_view_rows(
    view: View,
    *,
    since: Any = None,
    until: Any = None,
    client: Any = None,
) -> pa.RecordBatchReader:
    """The rows of ``view`` (a :class:`mloop.features.catalog.View`, as
    ``Catalog.view(name)`` gives), after its transformation, as a stream of Arrow batches.

    Columns, in order: the view's join keys; ``event_timestamp`` (``timestamp[us, UTC]``,
    never null); ``created`` (``timestamp[us, UTC]``, null when the source has no created
    column or the row has none); then every feature of the view, cast to its declared type
    (as :func:`get_historical_features` types them). Rows whose event time is missing are
    left out.

    ``since`` and ``until`` bound the event time to ``[since, until)``; each is None (no
    bound), a datetime (naive ones are UTC), a date, or integer epoch milliseconds.

    Rows are streamed: DuckDB reads Parquet and CSV files (and a dataset version's file)
    batch by batch, so memory stays flat however large the source; a PostgreSQL source
    without a SQL transformation is streamed too. A Python transformation receives the
    whole source as one pandas DataFrame, and its result is held in memory. Rows come in
    no particular order. ``client`` reads dataset sources (default: ``mloop.Client()``).
    Errors (a missing file, a failing transformation, a missing column) are raised here,
    before the first batch, as :class:`~mloop.core.errors.ValidationError`, except for
    values that fail their cast, which raise while streaming.
    """
    low = bound_micros(since, "since")
    high = bound_micros(until, "until")
    reserved = {EVENT_TIMESTAMP, CREATED_COLUMN}
    clash = [n for n in [*view.join_keys, *view.feature_types] if n in reserved]
    if clash:
        raise ValidationError(
            f"feature view {view.name!r} has a key or feature named {clash[0]!r}, a column "
            "name read_view_rows gives the event and created times",
            field="features",
        )
    con = connect()
    try:
        reader = Reader(con, client)
        rows = reader.view_rows(view, stream=view.transform_sql is None)
        where = [f"{TS} IS NOT NULL"]
        if low is not None:
            where.append(f"{TS} >= {low}")
        if high is not None:
            where.append(f"{TS} < {high}")
        select = [quote(k) for k in view.join_keys]
        select.append(f"CAST(make_timestamp({TS}) AS TIMESTAMPTZ) AS {EVENT_TIMESTAMP}")
        select.append(f"CAST(make_timestamp({CREATED}) AS TIMESTAMPTZ) AS {CREATED_COLUMN}")
        select += [quote(n) for n in rows.features]
        sql = f"SELECT {', '.join(select)} FROM ({rows.sql}) WHERE {' AND '.join(where)}"
        result = reader.guard(
            lambda: con.sql(sql).to_arrow_reader(BATCH_ROWS),
            f"feature view {view.name!r}",
            "source",
        )
    except BaseException:
        con.close()
        raise
    return pa.RecordBatchReader.from_batches(result.schema, _batches(result, con, view.name))


def _batches(result: pa.RecordBatchReader, con: Any, view_name: str) -> Iterator[pa.RecordBatch]:
    """The query's batches; the connection lives as long as the stream."""
    import duckdb

    try:
        yield from result
    except duckdb.Error as exc:
        raise ValidationError(
            f"feature view {view_name!r}: reading its rows failed: {exc}", field="source"
        ) from exc
    finally:
        con.close()
