"""Time in offline retrieval: every timestamp becomes microseconds since the epoch, UTC.

- Time-zone-aware timestamps are converted to UTC.
- Naive timestamps (no time zone), in entity rows and in sources alike, are taken as UTC.
- Integers are milliseconds since the epoch; dates are midnight UTC.
- Sub-microsecond precision (pandas' nanoseconds) is truncated to the microsecond.

Entity rows are converted in Arrow (:func:`entity_micros`); source columns in DuckDB SQL
(:func:`micros_sql`), on a connection whose session time zone is UTC (:func:`connect`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from mloop.core.errors import ValidationError

UTC_MICROS = pa.timestamp("us", tz="UTC")

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection whose session time zone is UTC, so that
    casts between naive and zoned timestamps neither shift nor depend on the machine."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def entity_micros(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """Microseconds since the epoch (UTC) of an entity rows' timestamp column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if column.null_count:
        raise ValidationError(
            f"entity_rows column {name!r} has {column.null_count} missing timestamps: every "
            "entity row needs the time its features are wanted at",
            field=name,
        )
    if pa.types.is_timestamp(kind):
        micros = pc.cast(column, pa.timestamp("us", tz=kind.tz), safe=False)
    elif pa.types.is_date(kind):
        micros = pc.cast(pc.cast(column, pa.date32()), pa.timestamp("us"))
    elif pa.types.is_integer(kind):
        # Milliseconds since the epoch, checked so an overflow is an error, not a wrong time.
        return pc.multiply_checked(pc.cast(column, pa.int64()), 1000)
    else:
        raise ValidationError(
            f"entity_rows column {name!r} must hold timestamps (or integer milliseconds "
            f"since the epoch), not {kind}",
            field=name,
        )
    return micros.view(pa.int64())  # zoned timestamps hold UTC instants


def micros_sql(expr: str, duck_type: str, owner: str, column: str, field: str) -> str:
    """A DuckDB expression of microseconds since the epoch (UTC) for a source column of
    ``duck_type``; ``owner`` and ``field`` name the view and the setting in errors."""
    kind = duck_type.upper()
    if kind in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        # A zoned timestamp holds an instant; a naive one is taken as UTC.
        return f"epoch_us({expr})"
    if kind.startswith("TIMESTAMP"):  # other precisions (_S, _MS, _NS, TIMESTAMPTZ_NS)
        zoned = "TZ" in kind or "TIME ZONE" in kind
        return f"epoch_us(CAST({expr} AS {'TIMESTAMPTZ' if zoned else 'TIMESTAMP'}))"
    if kind == "DATE":
        return f"epoch_us(CAST({expr} AS TIMESTAMP))"
    if kind in _INTEGER_TYPES:
        return f"(CAST({expr} AS BIGINT) * 1000)"
    if kind == "VARCHAR":
        # Text with an offset is an instant; without one, UTC (the session time zone).
        return f"epoch_us(CAST({expr} AS TIMESTAMPTZ))"
    raise ValidationError(
        f"{owner}: column {column!r} must hold timestamps (or integer milliseconds since "
        f"the epoch), not {duck_type}",
        field=field,
    )


def bound_micros(value: Any, field: str) -> int | None:
    """Microseconds since the epoch of a time bound (a datetime, aware or taken as UTC;
    a date; integer milliseconds), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a datetime, not {value!r}", field=field)
    if isinstance(value, int):
        return value * 1000
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dt.date):
        return bound_micros(dt.datetime(value.year, value.month, value.day), field)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return bound_micros(value.to_pydatetime(), field)
    raise ValidationError(f"{field} must be a datetime, not {type(value).__name__}", field=field)
