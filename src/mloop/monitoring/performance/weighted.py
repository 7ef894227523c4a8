"""Weighted sums and safe ratios over a ``(b, n)`` matrix of row weights.

Every metric is built from these: with one row of ones they give the metric of the data,
with bootstrap counts they give it for every resample at once (see ``bootstrap``).
"""

from __future__ import annotations

import numpy as np


def weighted_sum(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``sum_i weights[:, i] * values[i]`` for each row of ``weights``: shape ``(b,)``."""
    return weights @ np.asarray(values, dtype=np.float64)


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
