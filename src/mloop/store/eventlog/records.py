"""Checking records against an event log's Arrow schema, and turning them into a table.

``append`` checks each record before it is queued, so a caller with a bug learns at once,
by field, what is wrong (and nothing already queued is affected). The check is a set
difference and one ``isinstance`` per field: a few microseconds, on the request path.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.types as pat

from mloop.core.errors import ValidationError

_log = logging.getLogger(__name__)

# Records converted to Arrow at a time by the background writer (see to_table_skipping_bad).
_CHUNK = 4096


def _python_types(type_: pa.DataType) -> tuple[type, ...] | None:
    """The Python types a value of ``type_`` may have; None: Arrow checks it when converting."""
    if pat.is_boolean(type_):
        return (bool,)
    if pat.is_integer(type_):
        return (int,)
    if pat.is_floating(type_):
        return (int, float)
    if pat.is_string(type_) or pat.is_large_string(type_):
        return (str,)
    if pat.is_binary(type_) or pat.is_large_binary(type_):
        return (bytes,)
    if pat.is_timestamp(type_):
        return (datetime.datetime, int)
    return None


class RecordChecker:
    """Checks mappings against ``schema``: no unknown field, every non-nullable field set,
    each value of a type its column accepts."""

    def __init__(self, schema: pa.Schema, *, source: str) -> None:
        self.schema = schema
        self.names = frozenset(schema.names)
        self._source = source
        self._fields = tuple(
            (f.name, f.nullable, frozenset(_python_types(f.type) or ()), f) for f in schema
        )

    def check(self, record: Mapping[str, Any]) -> None:
        if type(record) is not dict and not isinstance(record, Mapping):
            raise ValidationError(
                f"an event of the {self._source} log must be a mapping of field to value, "
                f"not {type(record).__name__}",
                field="record",
            )
        unknown = record.keys() - self.names
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise ValidationError(
                f"{name!r} is not a field of the {self._source} log; its fields are "
                f"{', '.join(self.schema.names)}",
                field=name,
            )
        for name, nullable, exact_types, arrow_field in self._fields:
            value = record.get(name)
            if value is None:
                if not nullable:
                    raise ValidationError(
                        f"{name} is required in the {self._source} log", field=name
                    )
            # The exact type first: a set lookup, cheaper than isinstance on the hot path.
            elif exact_types and type(value) not in exact_types:
                self._check_subclass(name, value, arrow_field)

    def _check_subclass(self, name: str, value: Any, arrow_field: pa.Field) -> None:
        """A value whose type is not one of the column's own: a subclass passes (numpy's
        float64 is a float), except bool, an int subclass, where a number is expected."""
        types = _python_types(arrow_field.type) or ()
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValidationError(
                f"{name} must be {arrow_field.type}, got {type(value).__name__} {value!r:.40}",
                field=name,
            )


def to_table(records: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """The records as one Arrow table (columns built from lists: several times faster than
    ``Table.from_pylist``)."""
    columns = {name: [r.get(name) for r in records] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def to_table_skipping_bad(
    records: Sequence[Mapping[str, Any]], schema: pa.Schema
) -> tuple[pa.Table, int]:
    """Like :func:`to_table`, but a record Arrow refuses (an int beyond int64, a value of a
    nested column of the wrong shape) is left out instead of failing the batch; returns the
    table and how many were left out.

    Converting Python objects holds the interpreter lock, so a large batch is converted in
    chunks with a yield between them: the request threads of a server never wait behind
    more than one chunk (a few milliseconds).
    """
    tables: list[pa.Table] = []
    bad = 0
    for start in range(0, len(records), _CHUNK):
        if start:
            time.sleep(0)
        chunk = records[start : start + _CHUNK]
        try:
            tables.append(to_table(chunk, schema))
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            table, left_out = _skipping_bad(chunk, schema)
            tables.append(table)
            bad += left_out
    return (pa.concat_tables(tables) if tables else schema.empty_table()), bad


def _skipping_bad(records: Sequence[Mapping[str, Any]], schema: pa.Schema) -> tuple[pa.Table, int]:
    good: list[Mapping[str, Any]] = []
    bad = 0
    for record in records:
        try:
            to_table([record], schema)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            bad += 1
            if bad == 1:
                _log.error("event log: left out a record Arrow cannot store: %s", exc)
        else:
            good.append(record)
    return to_table(good, schema), bad
