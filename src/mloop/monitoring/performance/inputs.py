"""Turn the caller's columns into checked numpy arrays, or say clearly what is wrong.

Every metric in ``mloop.monitoring`` accepts numpy arrays, pandas Series, pyarrow arrays
(``Array`` or ``ChunkedArray``), Polars Series and plain lists. Missing values are ``None``,
``NaN``, ``pandas.NA`` or an Arrow null; only labels (``y_true``) may be missing, because
ground truth arrives late: the metrics leave those rows out and count them. Predictions and
probabilities must be complete.

Bad input raises ``mloop.core.errors.ValidationError`` whose ``field`` names the argument.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError

# Rows of probabilities must sum to 1 within this: softmax outputs in float32 are off by
# about 1e-7, while a missing class column is off by far more.
ROW_SUM_TOLERANCE = 1e-5


def as_array(values: Any, field: str) -> np.ndarray:
    """A 1-D numpy array of ``values``, whatever array type they come in."""
    if values is None:
        raise ValidationError(f"{field} is required", field=field)
    array = to_numpy(values, field)
    if array.ndim != 1:
        raise ValidationError(
            f"{field} must be one-dimensional (one value per row), got shape {array.shape}",
            field=field,
        )
    if array.size == 0:
        raise ValidationError(f"{field} is empty: there are no rows to compute on", field=field)
    return array


def to_numpy(values: Any, field: str | None = None) -> np.ndarray:
    """``values`` as a numpy array (any shape), converted from pandas, Arrow or Polars."""
    if isinstance(values, np.ndarray):
        return values
    convert = getattr(values, "to_numpy", None)
    if callable(convert):
        try:  # pyarrow copies only when asked to (strings, nulls)
            return np.asarray(convert(zero_copy_only=False))
        except TypeError:  # pandas and Polars take no such argument
            return np.asarray(convert())
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        name = field or "the input"
        raise ValidationError(
            f"{name} must be an array of values, one per row, got a scalar", field=field
        )
    array = np.asarray(values)
    if array.dtype.kind in "OUS" and array.ndim == 1:
        return np.asarray(list(values), dtype=object)
    return array


def missing_mask(array: np.ndarray) -> np.ndarray:
    """True where a value is missing (None, NaN, pandas.NA, NaT)."""
    kind = array.dtype.kind
    if kind in "fc":
        return np.isnan(array)
    if kind in "mM":
        return np.isnat(array)
    if kind == "O":
        return np.frompyfunc(_is_missing, 1, 1)(array).astype(bool)
    return np.zeros(array.shape, dtype=bool)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    # pandas.NA and NaT without importing pandas
    return type(value).__name__ in {"NAType", "NaTType"}


def check_lengths(**arrays: np.ndarray | None) -> int:
    """The common row count of ``arrays`` (None ones skipped); an error naming the odd one."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    first_name, first = next(iter(lengths.items()))
    for name, length in lengths.items():
        if length != first:
            raise ValidationError(
                f"{name} has {length} rows but {first_name} has {first}: "
                "pass one value per row in every column",
                field=name,
            )
    return first


def python_scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (JSON and dict keys want those)."""
    return value.item() if isinstance(value, np.generic) else value


def distinct_values(array: np.ndarray, field: str) -> list[Any]:
    """The sorted distinct values of an array that has no missing values."""
    try:
        uniques = np.unique(array)
    except TypeError as exc:
        types = sorted({type(v).__name__ for v in array.tolist()})
        raise ValidationError(
            f"{field} mixes value types ({', '.join(types)}); labels must be all numbers "
            "or all strings",
            field=field,
        ) from exc
    return [python_scalar(v) for v in uniques]


def resolve_classes(
    classes: Sequence[Hashable] | None, observed: dict[str, np.ndarray]
) -> tuple[Any, ...]:
    """The known classes: ``classes`` as given, or the sorted union of observed labels.

    ``observed`` maps an argument name to its non-missing labels, so an error can say which
    argument brought a label that is not a known class.
    """
    if classes is not None:
        known = tuple(python_scalar(c) for c in classes)
        if len(known) == 0:
            raise ValidationError("classes is empty: name at least one class", field="classes")
        if len(set(known)) != len(known):
            raise ValidationError(f"classes has duplicates: {list(known)}", field="classes")
        return known
    union: set[Any] = set()
    for field, values in observed.items():
        union.update(distinct_values(values, field))
    try:
        return tuple(sorted(union))
    except TypeError as exc:
        fields = " and ".join(observed)
        raise ValidationError(
            f"{fields} mix label types ({sorted({type(v).__name__ for v in union})}): "
            "predictions and labels must use the same type",
            field=next(iter(observed)),
        ) from exc


def encode_labels(values: np.ndarray, classes: tuple[Any, ...], field: str) -> np.ndarray:
    """Each label's index in ``classes`` (an int64 array); unknown labels are an error."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        uniques, inverse = np.unique(values, return_inverse=True)
    except TypeError:
        distinct_values(values, field)  # raises the mixed-types error
        raise
    codes = np.empty(len(uniques), dtype=np.int64)
    unknown: list[Any] = []
    for i, value in enumerate(uniques.tolist()):
        code = index.get(value)
        if code is None:
            unknown.append(value)
        else:
            codes[i] = code
    if unknown:
        raise ValidationError(
            f"{field} has labels that are not among the classes {list(classes)}: "
            f"{unknown[:10]}; pass classes naming every label the model can return",
            field=field,
        )
    return codes[inverse.reshape(-1)]


def resolve_positive(
    classes: tuple[Any, ...], positive_label: Hashable | None
) -> tuple[tuple[Any, ...], int]:
    """The classes (the positive label added when a window saw one class) and its index.

    With two classes and no ``positive_label`` the positive class is the second in sorted
    order: 1 of {0, 1}, True of {False, True}.
    """
    if positive_label is None:
        return classes, len(classes) - 1
    positive = python_scalar(positive_label)
    if positive in classes:
        return classes, classes.index(positive)
    if len(classes) == 1:
        merged = tuple(sorted({*classes, positive}, key=_sort_key))
        return merged, merged.index(positive)
    raise ValidationError(
        f"positive_label {positive!r} is not among the classes {list(classes)}",
        field="positive_label",
    )


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def as_finite_floats(values: Any, field: str) -> np.ndarray:
    """A float64 array with no missing or infinite values."""
    array = as_array(values, field)
    floats = _floats(array, field)
    bad = ~np.isfinite(floats)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            f"{field} has a missing or infinite value at row {row} "
            f"({int(bad.sum())} such rows); every row needs a number",
            field=field,
        )
    return floats


def as_optional_floats(values: Any, field: str) -> tuple[np.ndarray, np.ndarray]:
    """A float64 array and its missing mask (missing rows hold NaN); infinities are errors."""
    array = as_array(values, field)
    missing = missing_mask(array)
    filled = array
    if array.dtype.kind == "O" and missing.any():
        filled = array.copy()
        filled[missing] = math.nan
    floats = _floats(filled, field)
    if np.isinf(floats).any():
        row = int(np.argmax(np.isinf(floats)))
        raise ValidationError(f"{field} has an infinite value at row {row}", field=field)
    return floats, missing


def _floats(array: np.ndarray, field: str) -> np.ndarray:
    if array.dtype.kind == "b":
        return array.astype(np.float64)
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} must hold numbers: {exc}", field=field) from exc


def as_probabilities(
    values: Any,
    n_rows: int | None,
    classes: tuple[Any, ...],
    positive: int,
    field: str = "y_proba",
) -> np.ndarray:
    """An ``(n_rows, len(classes))`` float64 matrix of class probabilities, checked.

    A 1-D input is the probability of the positive class of a binary problem; a 2-D input
    has one column per class, in the order of ``classes``. ``n_rows`` None takes any
    number of rows but none.
    """
    if values is None:
        raise ValidationError(f"{field} is required", field=field)
    array = to_numpy(values, field)
    if array.dtype.kind == "O" and array.ndim == 1:  # a column of per-row lists
        try:
            array = np.array([np.asarray(row, dtype=np.float64) for row in array])
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{field} must hold numbers or per-row lists of numbers: {exc}", field=field
            ) from exc
    matrix = _floats(np.asarray(array), field)
    if matrix.ndim == 1:
        if len(classes) > 2:
            raise ValidationError(
                f"{field} is one-dimensional but there are {len(classes)} classes: pass one "
                "column of probabilities per class",
                field=field,
            )
        matrix = _binary_matrix(matrix, len(classes), positive)
    if n_rows is None:
        n_rows = matrix.shape[0]
        if n_rows == 0:
            raise ValidationError(f"{field} is empty: there are no rows", field=field)
    if matrix.ndim != 2 or matrix.shape[0] != n_rows:
        raise ValidationError(
            f"{field} must have one row per prediction ({n_rows}), got shape {matrix.shape}",
            field=field,
        )
    if matrix.shape[1] != len(classes):
        raise ValidationError(
            f"{field} has {matrix.shape[1]} columns but there are {len(classes)} classes "
            f"{list(classes)}; pass classes in the order of the probability columns",
            field=field,
        )
    _check_probability_values(matrix, field)
    return matrix


def _binary_matrix(positive_proba: np.ndarray, n_classes: int, positive: int) -> np.ndarray:
    if n_classes == 1:  # a window that saw one class: its probability is the whole row
        return positive_proba.reshape(-1, 1)
    matrix = np.empty((len(positive_proba), 2))
    matrix[:, positive] = positive_proba
    matrix[:, 1 - positive] = 1.0 - positive_proba
    return matrix


def _check_probability_values(matrix: np.ndarray, field: str) -> None:
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ValidationError(
            f"{field} has a missing or infinite probability in row {row}", field=field
        )
    outside = ((matrix < 0.0) | (matrix > 1.0)).any(axis=1)
    if outside.any():
        row = int(np.argmax(outside))
        raise ValidationError(
            f"{field} has a probability outside [0, 1] in row {row}: {matrix[row].tolist()}; "
            "pass probabilities (predict_proba), not scores or logits",
            field=field,
        )
    if matrix.shape[1] > 1:
        sums = matrix.sum(axis=1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
        if off.any():
            row = int(np.argmax(off))
            raise ValidationError(
                f"{field} row {row} sums to {sums[row]:.6g}, not 1: each row holds the "
                "probabilities of every class, in the order of classes",
                field=field,
            )
