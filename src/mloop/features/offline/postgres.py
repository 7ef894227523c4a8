"""Reading a PostgreSQL source into Arrow, in batches, through psycopg.

The connection URL comes from the environment variable the source names (``url_env``),
so no password is ever registered. The source's ``query`` is a table name (``orders``,
``sales.orders``) or a query. Rows are read through a server-side cursor ``BATCH_ROWS``
at a time, so memory holds one batch, and typed from PostgreSQL's column types (numeric
becomes float64; types without an Arrow counterpart become their text).
"""

from __future__ import annotations

import decimal
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from mloop.core.errors import ValidationError

BATCH_ROWS = 50_000
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")

# PostgreSQL type OIDs -> Arrow types.
_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1700: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    1042: pa.string(),
    19: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _converter(arrow_type: pa.DataType, oid: int) -> Callable[[Any], Any] | None:
    if oid == 1700:
        return lambda v: float(v) if isinstance(v, decimal.Decimal) else v
    if pa.types.is_string(arrow_type) and oid not in _TYPES:
        return _text
    return None


def postgres_url(url_env: str, owner: str) -> str:
    """The connection URL in ``$url_env``, in the form psycopg takes."""
    url = os.environ.get(url_env, "")
    if not url:
        raise ValidationError(
            f"{owner} reads PostgreSQL at the URL in the environment variable {url_env!r}, "
            "which is not set",
            field="url_env",
        )
    # SQLAlchemy-style URLs (postgresql+psycopg://) name a driver psycopg does not parse.
    return re.sub(r"^postgres(ql)?\+[a-z0-9_]+://", "postgresql://", url)


def _statement(query: str) -> Any:
    from psycopg import sql

    text = query.strip().rstrip(";").strip()
    if _TABLE_NAME.match(text):
        return sql.SQL("SELECT * FROM {}").format(sql.Identifier(*text.split(".")))
    return sql.SQL(text)  # a user's query, run as written


def read_postgres(url_env: str, query: str, owner: str) -> pa.RecordBatchReader:
    """The rows of ``query`` (a table name or a query) as a stream of Arrow batches; the
    connection closes when the stream is exhausted or closed."""
    try:
        import psycopg
    except ImportError as exc:
        raise ValidationError(
            f"{owner} reads PostgreSQL, which needs psycopg: pip install 'mloop[postgres]'",
            field="source",
        ) from exc
    url = postgres_url(url_env, owner)
    try:
        conn = psycopg.connect(url)
        conn.execute("SET TIME ZONE 'UTC'")
        cursor = conn.cursor(name="mloop_feature_rows")
        cursor.execute(_statement(query))
    except psycopg.Error as exc:
        raise ValidationError(
            f"{owner}: reading PostgreSQL failed: {exc}".strip(), field="source"
        ) from exc
    description = cursor.description or []
    fields = [pa.field(c.name, _TYPES.get(c.type_code, pa.string())) for c in description]
    schema = pa.schema(fields)
    converters = [_converter(f.type, c.type_code) for f, c in zip(fields, description, strict=True)]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while rows := cursor.fetchmany(BATCH_ROWS):
                columns = list(zip(*rows, strict=True))
                arrays = []
                for values, f, convert in zip(columns, fields, converters, strict=True):
                    if convert is not None:
                        values = tuple(convert(v) for v in values)
                    arrays.append(pa.array(values, type=f.type))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except psycopg.Error as exc:
            raise ValidationError(
                f"{owner}: reading PostgreSQL failed: {exc}".strip(), field="source"
            ) from exc
        finally:
            conn.close()

    return pa.RecordBatchReader.from_batches(schema, batches())
