"""Requests of plain numbers kept as NumPy arrays, from the body to the model.

Most requests to a tabular model are rows of JSON numbers. Building a pandas DataFrame per
request, checking it column by column and handing scikit-learn a DataFrame per batch cost
about a millisecond of the event loop's time per request; an array costs a few
microseconds. So a request whose every value is a JSON number (no booleans, nulls or
strings; integers within 2**53, which a float64 holds exactly) is kept as
:class:`NumericRows` (column names, a float64 array, which columns hold only integers), and
checked against a dataframe signature of float, int64 or bool columns by
:func:`mloop.models.signature.check_numeric_table`, with the general path's errors. A batch
of such requests is stacked into one array and becomes one DataFrame with the signature's
column dtypes, or, for a scikit-learn estimator that takes an array in its stead
(:func:`mloop.serving.estimators.takes_array`), stays an array.

Anything else (strings, nulls, other schemas, other models) takes the general pandas path,
and :meth:`NumericRows.to_frame` gives the DataFrame that path would have parsed, so both
paths give the model the same values. ``tests/serving/test_numeric_path.py`` checks that
they give the same predictions, probabilities and errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Integers up to 2**53 in magnitude are exact in a float64, so casting the float64 array to
# int64 or float32 gives what pandas gives from the integers themselves.
_EXACT_INT = 2**53


@dataclass(frozen=True, eq=False)
class NumericRows:
    """A parsed request of numbers: ``values`` (rows x columns, float64), the column names
    (distinct strings) and, per column, whether every value was a JSON integer (pandas makes
    such a column int64, and float64 otherwise)."""

    columns: tuple[str, ...]
    values: np.ndarray
    integer: tuple[bool, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def to_frame(self) -> Any:
        """The DataFrame pandas builds from the same request."""
        import pandas as pd

        return pd.DataFrame(
            {
                name: self.values[:, i].astype(np.int64) if self.integer[i] else self.values[:, i]
                for i, name in enumerate(self.columns)
            }
        )


@dataclass(frozen=True, eq=False)
class CheckedRows:
    """Rows checked against a numeric dataframe signature: ``values`` (float64) has the
    signature's columns in its order; the layout says what the model gets."""

    values: np.ndarray
    layout: NumericLayout

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)


class NumericLayout:
    """How checked rows become the model's input: one DataFrame with the signature's column
    names and dtypes (what the general path gives), or the array a DataFrame of those dtypes
    converts to (``as_array``; only for estimators that take an array in its stead)."""

    def __init__(self, columns: Sequence[tuple[str, str]], *, as_array: bool) -> None:
        self.columns = list(columns)
        self.names = [name for name, _ in columns]
        self.dtypes = [np.dtype(dtype) for _, dtype in columns]
        self.as_array = as_array
        self._uniform = len(set(self.dtypes)) == 1
        # What np.asarray of a DataFrame with these column dtypes gives (pandas' interleave).
        self._array_dtype = np.result_type(*self.dtypes)

    def model_input(self, values: np.ndarray) -> Any:
        """The model's input for ``values`` (rows x columns, float64, signature order)."""
        # Column-major, as np.asarray of a DataFrame is: matrix products then take the same
        # BLAS path as on the general path's DataFrame, so the results are equal to the bit.
        values = np.asfortranarray(values)
        if self.as_array:
            if self._uniform:
                return values.astype(self._array_dtype, copy=False)
            out = np.empty(values.shape, dtype=self._array_dtype)
            for i, dtype in enumerate(self.dtypes):
                out[:, i] = values[:, i].astype(dtype, copy=False)
            return out
        return self.frame(values)

    def frame(self, values: np.ndarray) -> Any:
        """The DataFrame the general path gives for these values: the signature's columns
        with its dtypes."""
        import pandas as pd

        values = np.asfortranarray(values)
        if self._uniform:
            return pd.DataFrame(
                values.astype(self.dtypes[0], copy=False), columns=self.names, copy=False
            )
        return pd.DataFrame(
            {
                name: values[:, i].astype(dtype, copy=False)
                for i, (name, dtype) in enumerate(zip(self.names, self.dtypes, strict=True))
            }
        )


def _numeric_rows(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> NumericRows | None:
    """``rows`` (each a sequence with one value per column) as NumericRows, or None when a
    value is not a JSON number, an integer is too large, or the names are not distinct
    strings."""
    width = len(columns)
    if not rows or not width or len(set(columns)) != width:
        return None
    if not all(type(name) is str for name in columns):
        return None
    has_int = False
    for row in rows:
        if len(row) != width:
            return None
        for value in row:
            kind = type(value)
            if kind is float:
                continue
            if kind is not int or not -_EXACT_INT <= value <= _EXACT_INT:
                return None  # bool, None, str, list, dict, or an integer too large
            has_int = True
    values = np.array(rows, dtype=np.float64)
    if has_int:
        integer = tuple(all(type(row[i]) is int for row in rows) for i in range(width))
    else:
        integer = (False,) * width
    return NumericRows(tuple(columns), values, integer)


def from_split(columns: Any, data: list[list[Any]]) -> NumericRows | None:
    """``dataframe_split``'s ``columns`` and ``data`` (already checked to be lists)."""
    if not isinstance(columns, list):
        return None
    return _numeric_rows(columns, data)


def from_records(records: list[Any]) -> NumericRows | None:
    """A list of records with the same keys (pandas aligns them by key; so does this)."""
    if not records or not isinstance(records[0], Mapping):
        return None
    columns = list(records[0])
    width = len(columns)
    rows: list[list[Any]] = []
    for record in records:
        if not isinstance(record, Mapping) or len(record) != width:
            return None
        try:
            rows.append([record[name] for name in columns])
        except KeyError:
            return None  # different keys: pandas fills the gaps with NaN
    return _numeric_rows(columns, rows)


def from_mapping(value: Mapping[str, Any]) -> NumericRows | None:
    """A mapping of columns (lists of equal length) or one record (scalars)."""
    columns = list(value)
    if not columns:
        return None
    cells = list(value.values())
    if all(type(cell) is list for cell in cells):
        if len({len(cell) for cell in cells}) != 1:
            return None
        return _numeric_rows(columns, list(zip(*cells, strict=True)))
    return _numeric_rows(columns, [cells])
