"""Reading an event log with DuckDB, opening only the segments that can hold the answer.

The segment index prunes by partition key, day and time range; DuckDB prunes columns and
row groups inside the files. Local segments are read by DuckDB's own Parquet reader; on an
object store DuckDB reads through the artifact store's fsspec filesystem, so nothing
(no DuckDB extension) is downloaded at run time.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import duckdb
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.store.eventlog import segments as _segments
from mloop.store.runtime import Runtime

TimeLike: TypeAlias = int | datetime.datetime
"""A time: ms since the epoch, or a datetime (naive ones are taken as UTC)."""

T = TypeVar("T")


def to_ms(value: TimeLike, field: str) -> int:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValidationError(
        f"{field} must be a datetime or ms since the epoch, not {type(value).__name__}",
        field=field,
    )


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(runtime: Runtime) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read the artifact store and downloads nothing."""
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_progress_bar = false")  # a server's and a library's output
    if not runtime.artifacts.is_local:
        con.register_filesystem(runtime.artifacts.fs)
    return con


def parquet_relation(param: str) -> str:
    """SQL reading the files in list parameter ``param``: columns added to a log later
    are null in older segments."""
    return f"read_parquet(${param}, union_by_name = true)"


def columns_of(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[str]:
    described = con.sql(
        f"DESCRIBE SELECT * FROM {parquet_relation('files')}", params={"files": files}
    )
    return [row[0] for row in described.fetchall()]


def check_columns(requested: Sequence[str], available: Sequence[str], source: str) -> None:
    if isinstance(requested, str):
        raise ValidationError("columns must be a list of column names", field="columns")
    missing = [c for c in requested if c not in available]
    if missing:
        raise ValidationError(
            f"column {missing[0]!r} is not in the {source} event log; its columns are "
            f"{', '.join(available)}",
            field="columns",
        )


def time_condition(
    time_field: str, since: int | None, until: int | None
) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if since is not None:
        conditions.append(f"{quote_identifier(time_field)} >= $since_ms")
        params["since_ms"] = since
    if until is not None:
        conditions.append(f"{quote_identifier(time_field)} < $until_ms")
        params["until_ms"] = until
    return conditions, params


def run_query(
    runtime: Runtime,
    plan: Callable[[], T],
    query: Callable[[duckdb.DuckDBPyConnection, T], pa.Table],
) -> pa.Table:
    """``query`` over the segments ``plan`` chose; planned once more if a file vanished in
    between (retention deleted a segment after the plan read the index)."""
    for attempt in (1, 2):
        planned = plan()
        con = connect(runtime)
        try:
            return query(con, planned)
        except duckdb.IOException:
            if attempt == 2:
                raise
        except (duckdb.BinderException, duckdb.ParserException) as exc:
            raise ValidationError(
                f"the query over the event log is invalid: {exc}", field="where"
            ) from exc
        finally:
            con.close()
    raise AssertionError("unreachable")


def _empty(schema: pa.Schema | None, columns: Sequence[str] | None, source: str) -> pa.Table:
    if schema is None:
        return pa.table({})
    if columns is not None:
        check_columns(columns, schema.names, source)
        schema = pa.schema([schema.field(c) for c in columns])
    return schema.empty_table()


def read_events(
    runtime: Runtime,
    source: str,
    *,
    keys: Sequence[str] | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
    schema: pa.Schema | None = None,
    time_field: str = "time",
) -> pa.Table:
    """The events of ``source`` with ``since <= time < until``, of partitions ``keys``
    (all when None), ordered by time.

    ``columns`` picks columns (all when None); ``where`` is a DuckDB condition with
    ``$name`` placeholders filled from ``params`` — code's SQL, never a user's text.
    ``schema`` is the log's schema, used for an empty answer when no segment matches.
    """
    _segments.check_source(source)
    if isinstance(keys, str):
        raise ValidationError("keys must be a list of partition keys", field="keys")
    since_ms = None if since is None else to_ms(since, "since")
    until_ms = None if until is None else to_ms(until, "until")

    def plan() -> list[str]:
        found = _segments.find_segments(runtime, source, keys=keys, since=since_ms, until=until_ms)
        return [runtime.artifacts.uri(segment.path) for segment in found]

    def query(con: duckdb.DuckDBPyConnection, files: list[str]) -> pa.Table:
        if not files:
            return _empty(schema, columns, source)
        available = columns_of(con, files)
        selected = available if columns is None else list(columns)
        check_columns(selected, available, source)
        conditions, values = time_condition(time_field, since_ms, until_ms)
        if where:
            conditions.append(f"({where})")
        sql = (
            f"SELECT {', '.join(map(quote_identifier, selected))} "
            f"FROM {parquet_relation('files')}"
            + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
            + (f" ORDER BY {quote_identifier(time_field)}" if time_field in available else "")
        )
        values = {**(params or {}), **values, "files": files}
        return con.sql(sql, params=values).to_arrow_table()

    return run_query(runtime, plan, query)
