"""A mergeable uniform sample of rows, for the multivariate (domain classifier) test.

Every row gets a random priority in [0, 1); the sample is the ``size`` rows with the smallest
priorities (a bottom-k sample). The rows kept from a union are the smallest of the parts'
kept rows, so merging is exact and associative, and the result is a uniform sample of the
union as long as the parts drew their priorities independently (``seed=None``, the
default; two summaries built with the same integer seed give their n-th rows the same
priority, which correlates what a merge keeps).

Values are stored as JSON: numbers as floats (NaN and infinities as None), categories as
their labels (see ``categories.category_label``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.monitoring.drift.inputs import as_floats, as_labels

DEFAULT_SAMPLE_ROWS = 1000
"""Rows a summary samples by default (0: none)."""

Value = float | str | None


@dataclass(frozen=True, eq=False)
class RowSample:
    """Up to ``size`` rows: ``columns`` maps each column to its values, row by row, and
    ``priorities`` holds each row's priority (ascending)."""

    size: int
    priorities: npt.NDArray[np.float64]
    columns: dict[str, list[Value]]

    @property
    def rows(self) -> int:
        return int(self.priorities.size)

    def merge(self, other: RowSample) -> RowSample:
        """The ``min(size)`` rows of lowest priority of both (exact, associative)."""
        if list(self.columns) != list(other.columns):
            raise ValidationError(
                "row samples of different columns cannot be merged", field="sample"
            )
        size = min(self.size, other.size)
        priorities = np.concatenate([self.priorities, other.priorities])
        order = np.lexsort((np.arange(priorities.size), priorities))[:size]
        picks = order.tolist()
        columns = {}
        for name, values in self.columns.items():
            both = values + other.columns[name]
            columns[name] = [both[i] for i in picks]
        return RowSample(size, priorities[order], columns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowSample):
            return NotImplemented
        return (
            self.size == other.size
            and np.array_equal(self.priorities, other.priorities)
            and self.columns == other.columns
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "priorities": self.priorities.tolist(),
            "columns": {name: list(values) for name, values in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowSample:
        try:
            size = int(data["size"])
            priorities = np.asarray(data["priorities"], dtype=np.float64)
            columns = {str(k): list(v) for k, v in dict(data["columns"]).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not a row sample: {exc}", field="sample") from exc
        if any(len(values) != priorities.size for values in columns.values()):
            raise ValidationError(
                "not a row sample: every column needs one value per priority", field="sample"
            )
        return cls(size, priorities, columns)


class RowSampler:
    """Keeps the ``size`` lowest-priority rows of a stream of record batches."""

    def __init__(self, columns: Sequence[str], kinds: Sequence[str], size: int, seed: Any) -> None:
        self.names = list(columns)
        self.kinds = list(kinds)
        self.size = size
        self._rng = np.random.default_rng(seed)
        self._kept: pa.Table | None = None
        self._priorities = np.empty(0)

    def add(self, batch: pa.RecordBatch) -> None:
        if self.size == 0 or batch.num_rows == 0:
            return
        priorities = self._rng.random(batch.num_rows)
        if self._priorities.size >= self.size:
            bar = self._priorities[self.size - 1]
            chosen = np.flatnonzero(priorities < bar)
        else:
            chosen = np.arange(batch.num_rows)
        if chosen.size > self.size:
            chosen = chosen[np.argpartition(priorities[chosen], self.size - 1)[: self.size]]
        if chosen.size == 0:
            return
        picked = pa.Table.from_batches([batch.select(self.names).take(pa.array(chosen))])
        table = picked if self._kept is None else pa.concat_tables([self._kept, picked])
        merged = np.concatenate([self._priorities, priorities[chosen]])
        order = np.argsort(merged, kind="stable")[: self.size]
        self._kept = table.take(pa.array(order))
        self._priorities = merged[order]

    def result(self) -> RowSample | None:
        if self.size == 0:
            return None
        columns: dict[str, list[Value]] = {}
        for name, kind in zip(self.names, self.kinds, strict=True):
            if self._kept is None:
                columns[name] = []
            else:
                columns[name] = _values(self._kept.column(name), kind)
        return RowSample(self.size, self._priorities.copy(), columns)


def _values(array: pa.ChunkedArray, kind: str) -> list[Value]:
    if kind == "numeric":
        floats = as_floats(array).to_numpy(zero_copy_only=False)
        return [float(v) if np.isfinite(v) else None for v in floats.tolist()]
    return [None if v is None else str(v) for v in as_labels(array).to_pylist()]
