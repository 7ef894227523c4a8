"""Checking records against an event log's Arrow schema, and turning them into a table.

``append`` checks each record before it is queued, so a caller with a bug learns at once,
by field, what is wrong (and nothing already queued is affected). The check is a set
difference and one ``isinstance`` per field: a few microseconds, on the request path.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.types as pat

from mloop.core.errors import ValidationError

_log = logging.getLogger(__name__)


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
            (f.name, f.nullable, _python_types(f.type), str(f.type)) for f in schema
        )

    def check(self, record: Mapping[str, Any]) -> None:
        if not isinstance(record, Mapping):
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
        for name, nullable, types, type_name in self._fields:
            value = record.get(name)
            if value is None:
                if not nullable:
                    raise ValidationError(
                        f"{name} is required in the {self._source} log", field=name
                    )
                continue
            # bool is an int subclass, but True is not a latency or a version number.
            if types is not None and (
                not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            ):
                raise ValidationError(
                    f"{name} must be {type_name}, got {type(value).__name__} {value!r:.40}",
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
    table and how many were left out."""
    try:
        return to_table(records, schema), 0
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
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
