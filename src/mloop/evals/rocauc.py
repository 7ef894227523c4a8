"""ROC AUC for many weightings of the same scores and labels, from one sort.

With a weight per row, AUC is the weighted Mann-Whitney statistic::

    sum over positive rows i of  w_i * (weight of negatives scored below s_i
                                        + 1/2 weight of negatives tied with s_i)
    --------------------------------------------------------------------------
                    (weight of positives) * (weight of negatives)

The negatives are sorted by score once, and each positive's place among them is found once
(the first negative not below it and the first one above it). Per weighting that leaves one
cumulative sum of the negatives' weights, read at those places, and one dot product with the
positives' weights: O(n) per weighting, vectorised over a block of weightings, with no sort.
For integer weights (bootstrap counts, 0/1 slices) twice the numerator is an integer and
every sum is exact, so the value is the exact ratio rounded once; with weights of 1 it
equals scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

import numpy as np

from mloop.core.errors import ValidationError
from mloop.evals.ratios import ratio


class RocAuc:
    """The ROC AUC of fixed ``scores`` and labels ``is_positive`` under any row weights."""

    def __init__(self, scores: np.ndarray, is_positive: np.ndarray) -> None:
        values = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValidationError(
                "roc_auc needs finite scores, and the model's probabilities contain NaN or "
                "infinity",
                field="metrics",
            )
        positive = np.asarray(is_positive, dtype=bool)
        negatives = np.flatnonzero(~positive)
        self._negatives = negatives[np.argsort(values[negatives], kind="stable")]
        self._positives = np.flatnonzero(positive)
        ranked = values[self._negatives]
        at = values[self._positives]
        self._below = np.searchsorted(ranked, at, side="left")
        through = np.searchsorted(ranked, at, side="right")
        # Only scores a positive shares with a negative need the second place.
        self._through = None if np.array_equal(through, self._below) else through

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """AUC for each row of the ``(b, n)`` weights; NaN where a class weighs nothing."""
        pos = weights.take(self._positives, axis=1)
        neg = weights.take(self._negatives, axis=1)
        # cumulative[:, j]: the weight of the j lowest-scored negatives.
        cumulative = np.zeros((len(weights), len(self._negatives) + 1))
        np.cumsum(neg, axis=1, out=cumulative[:, 1:])
        below = cumulative.take(self._below, axis=1)
        if self._through is None:
            twice = 2.0 * np.einsum("ij,ij->i", pos, below)
        else:
            # below + through = 2 * (negatives below) + (negatives tied)
            below += cumulative.take(self._through, axis=1)
            twice = np.einsum("ij,ij->i", pos, below)
        return ratio(twice, 2.0 * pos.sum(axis=1) * cumulative[:, -1])
