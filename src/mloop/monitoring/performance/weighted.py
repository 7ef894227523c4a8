"""Weighted column sums and safe ratios over a ``(b, n)`` matrix of row weights.

Every metric is built from these: with one row of ones they give the metric of the data,
with bootstrap counts they give it for every resample at once (see ``bootstrap``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Cells of one chunk of per-row columns built for ``column_sums`` (float64: 16 MiB).
CHUNK_CELLS = 2**21


def column_sums(
    weights: np.ndarray, columns: Callable[[slice], np.ndarray], n_columns: int
) -> np.ndarray:
    """``weights @ C`` for the ``(n, n_columns)`` matrix C whose rows ``columns(part)`` builds
    for a slice of rows: one matrix product per chunk of rows, so C never exists whole.

    Returns a ``(b, n_columns)`` array: every weighted sum a metric needs, for every row of
    ``weights``, in one pass over the weights.
    """
    n_rows = weights.shape[1]
    step = max(1, CHUNK_CELLS // max(n_columns, 1))
    total = np.zeros((weights.shape[0], n_columns))
    for start in range(0, n_rows, step):
        part = slice(start, min(n_rows, start + step))
        total += weights[:, part] @ columns(part)
    return total


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN where the denominator is zero."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The mean over the last axis of the values that are not NaN, weighted when asked;
    NaN where none is. Where the defined values all weigh zero the plain mean is taken, as
    scikit-learn's weighted averages do."""
    defined = ~np.isnan(values)
    filled = np.where(defined, values, 0.0)
    plain = ratio(filled.sum(axis=-1), defined.sum(axis=-1))
    if weights is None:
        return plain
    w = np.where(defined, weights, 0.0)
    weighted = ratio((filled * w).sum(axis=-1), w.sum(axis=-1))
    return np.where(np.isnan(weighted), plain, weighted)
