"""Group rows by the value of a column (a slice, a sensitive attribute).

Groups are the column's distinct values in sorted order; rows whose value is missing form
one more group, labelled ``None``, last. Several columns group by their combinations
(labels are tuples), listing only the combinations that occur.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.inputs import as_array, missing_mask, python_scalar


@dataclasses.dataclass(frozen=True)
class Groups:
    """Each row's group index (``codes``) and each group's label."""

    codes: np.ndarray
    labels: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.labels)


def group_rows(values: Any, field: str) -> Groups:
    """Group the rows of one column by value (missing values form the group ``None``)."""
    array = as_array(values, field)
    missing = missing_mask(array)
    try:
        uniques, inverse = np.unique(array[~missing], return_inverse=True)
    except TypeError as exc:
        raise ValidationError(
            f"{field} mixes value types that cannot be ordered "
            f"({sorted({type(v).__name__ for v in array[~missing].tolist()})}); "
            "convert it to one type (e.g. strings)",
            field=field,
        ) from exc
    codes = np.full(len(array), len(uniques), dtype=np.int64)
    codes[~missing] = inverse.reshape(-1)
    labels = tuple(python_scalar(v) for v in uniques)
    return Groups(codes, (*labels, None) if missing.any() else labels)


def combine(groups: Sequence[Groups]) -> Groups:
    """Group by the combination of several groupings; labels are tuples of their labels."""
    combined = np.zeros(len(groups[0].codes), dtype=np.int64)
    for grouping in groups:
        combined = combined * len(grouping) + grouping.codes
    present, codes = np.unique(combined, return_inverse=True)
    labels = []
    for value in present.tolist():
        parts = []
        for grouping in reversed(groups):
            value, part = divmod(value, len(grouping))
            parts.append(grouping.labels[part])
        labels.append(tuple(reversed(parts)))
    return Groups(codes.reshape(-1).astype(np.int64), tuple(labels))
