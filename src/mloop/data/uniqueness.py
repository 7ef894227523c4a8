"""Duplicate keys counted by direct addressing, for keys of integers, dates and timestamps.

A ``GROUP BY`` over the key builds a hash table as large as the number of distinct keys. When
every key column is integral (integers, dates, microsecond timestamps) and the key values
span a small range (``size``: the product of the columns' ranges, at most a few times the row
count), each key maps exactly to a slot ``sum((value_i - low_i) * stride_i)`` of an array
instead: no hashing and no collisions, so the counts are exact. Per batch, one gather, one
scatter and one gather over a position array find the rows whose key was seen before; only
those rows are counted, into a second array. The key columns are read in Arrow batches, so
memory holds the two arrays (4 bytes a slot each, the second only where keys repeat) and one
batch, whatever the row count. Keys outside these limits go through DuckDB's ``GROUP BY``
(``validate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mloop.core.errors import ValidationError

BATCH_ROWS = 262_144
"""Rows per batch read; 256Ki keeps the batch's work arrays a few MB."""
SLOT_BYTES = 8
"""Memory per slot of the key range, at most: int32 positions and uint32 repeat counts."""
MAX_SLOTS_PER_ROW = 8
"""Direct addressing only while the key range is at most this many slots a row (or
``_MIN_SLOTS``); sparser keys would spend more scanning the array than hashing would."""
_MIN_SLOTS = 1 << 16
_INT64_MAX = (1 << 63) - 1
_FALLBACK_BUDGET = 64 << 20
_UNITS = {"bytes": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


@dataclass(frozen=True)
class Duplicates:
    """Duplicated keys: how many, the rows they cover, and the most repeated ones."""

    groups: int
    rows: int
    top: list[tuple[list[int], int]]
    """Up to ``limit`` (key values as integers, count), most repeated first, then by key."""


def integer_sql(duckdb_type: str, value: str) -> str | None:
    """SQL giving ``value`` (of a column of this type, or an aggregate of it such as its
    ``min``) as an exact BIGINT, or None where the type has no such view.

    Integers up to 64 bits signed (unsigned up to 32), dates as days since the epoch and
    microsecond timestamps as microseconds since the epoch map one to one onto integers,
    the same integers ``count_duplicates`` reads from the column's Arrow batches.
    """
    t = duckdb_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"):
        return f"CAST({value} AS BIGINT)"
    if t == "DATE":
        return f"({value} - DATE '1970-01-01')"
    if t in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
        return f"epoch_us({value})"
    return None


def arrow_values(ints: Sequence[int], arrow_type: pa.DataType) -> list[object]:
    """Integers from ``integer_sql`` back as the Python values of the column's Arrow type."""
    if pa.types.is_date32(arrow_type):
        return pa.array(ints, pa.int32()).cast(arrow_type).to_pylist()
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us":
        return pa.array(ints, pa.int64()).cast(arrow_type).to_pylist()
    return [int(v) for v in ints]


def budget_bytes(memory_limit: str) -> int:
    """Half of DuckDB's memory limit as it reports it (``'953.6 MiB'``), in bytes.

    The counts are built after DuckDB's scans, so the process stays within about one and a
    half times the limit."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", memory_limit)
    if match is None or match.group(2).lower() not in _UNITS:
        return _FALLBACK_BUDGET
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()]) // 2


def strides(lows: Sequence[int], highs: Sequence[int], rows: int, budget: int) -> list[int] | None:
    """Each column's stride in the slot number (the first column varies slowest), or None
    when the key range is too large for the memory budget or too sparse for the rows."""
    if rows >= 1 << 32:  # the counts are uint32
        return None
    size = 1
    spans = []
    for low, high in zip(lows, highs, strict=True):
        span = high - low + 1
        if span <= 0 or span > _INT64_MAX:
            return None
        spans.append(span)
        size *= span
    if size * SLOT_BYTES > budget or size > max(MAX_SLOTS_PER_ROW * rows, _MIN_SLOTS):
        return None
    result = []
    step = 1
    for span in reversed(spans):
        result.append(step)
        step *= span
    return result[::-1]


def count_duplicates(
    batches: Iterable[pa.RecordBatch],
    lows: Sequence[int],
    steps: Sequence[int],
    size: int,
    limit: int,
) -> Duplicates:
    """Count keys seen more than once in ``batches`` (the key columns, of types
    ``integer_sql`` accepts, rows with a null key already left out), with slots laid out by
    ``strides``."""
    # position[s]: the row (within its batch) that last wrote slot s; -1: not seen yet.
    position = np.full(size, -1, dtype=np.int32)
    # extra[s]: the rows with slot s beyond the first. Allocated at the first repeat, by
    # np.zeros, whose untouched pages take no memory: only repeated slots are written.
    extra: np.ndarray | None = None
    order = np.arange(BATCH_ROWS, dtype=np.int32)
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        if n > len(order):
            order = np.arange(n, dtype=np.int32)
        slots = _slots(batch, lows, steps, size)
        rows = order[:n]
        repeated = position[slots] != -1  # the key was in an earlier batch
        # Where a slot repeats within the batch, exactly one of its rows' writes remains:
        # the others are repeats too.
        position[slots] = rows
        repeated |= position[slots] != rows
        if repeated.any():
            if extra is None:
                extra = np.zeros(size, dtype=np.uint32)
            np.add.at(extra, slots[repeated], 1)  # exact for repeated indices
    del position
    if extra is None:
        return Duplicates(groups=0, rows=0, top=[])
    duplicated = np.flatnonzero(extra)
    repeats = extra[duplicated].astype(np.int64) + 1
    # Most repeated first; among equals, the smallest key (slots order keys column by column).
    chosen = np.lexsort((duplicated, -repeats))[:limit]
    top = [(_unpack(int(duplicated[i]), lows, steps), int(repeats[i])) for i in chosen]
    return Duplicates(groups=len(duplicated), rows=int(repeats.sum()), top=top)


def _slots(
    batch: pa.RecordBatch, lows: Sequence[int], steps: Sequence[int], size: int
) -> np.ndarray:
    slots: np.ndarray | None = None
    for i, (low, step) in enumerate(zip(lows, steps, strict=True)):
        values = np.subtract(_integers(batch.column(i)), low, dtype=np.int64)
        span = (steps[i - 1] if i else size) // step
        # Outside the bounds read before, a value would land in another key's slot (or wrap
        # around): only possible if the data changed in between.
        if values.min() < 0 or values.max() >= span:
            raise ValidationError(
                f"column {batch.schema.field(i).name!r} holds values outside the range it had "
                "a moment before: did the data change during the validation? Run it again",
                field=batch.schema.field(i).name,
            )
        if step != 1:
            values *= step
        if slots is None:
            slots = values
        else:
            slots += values
    assert slots is not None
    return slots


def _integers(array: pa.Array) -> np.ndarray:
    """A column's values as the integers ``integer_sql`` gives, without copying."""
    if pa.types.is_date32(array.type):
        array = array.view(pa.int32())
    elif pa.types.is_timestamp(array.type):
        if array.type.unit != "us":
            raise ValueError(f"expected microsecond timestamps, got {array.type}")
        array = array.view(pa.int64())
    return array.to_numpy()


def _unpack(slot: int, lows: Sequence[int], steps: Sequence[int]) -> list[int]:
    values = []
    for low, step in zip(lows, steps, strict=True):
        values.append(slot // step + low)
        slot %= step
    return values
