"""ROC AUC as a weighted Mann-Whitney statistic, for many weightings of the same scores at once.

AUC is the probability that a random positive scores above a random negative, ties
counting one half. With a weight per row for "positive" and one for "negative" it is::

    sum_i pos_i * (negatives scored below s_i + 1/2 negatives tied with s_i)
    ---------------------------------------------------------------------------
                         sum(pos) * sum(neg)

Sorting the scores once and summing weights per distinct score makes this a cumulative sum
over a ``(b, distinct scores)`` matrix, so bootstrap resamples (counts as weights) and
CBPE's expected labels (probabilities as weights) all reuse one sort. With 0/1 weights it
equals scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

import numpy as np

from mloop.monitoring.performance.weighted import ratio


class RankedScores:
    """Scores sorted once, with the start of each run of tied scores.

    Scores that arrive sorted skip the reordering of every weight matrix, and distinct
    scores skip the summing per run of ties: sort rows by score once, up front, when many
    weightings will follow.
    """

    def __init__(self, scores: np.ndarray) -> None:
        n = len(scores)
        ascending = n < 2 or bool(np.all(scores[1:] >= scores[:-1]))
        self.order: np.ndarray | None = None if ascending else np.argsort(scores, kind="stable")
        ordered = scores if self.order is None else scores[self.order]
        is_start = np.empty(n, dtype=bool)
        is_start[:1] = True
        is_start[1:] = ordered[1:] != ordered[:-1]
        self.starts = np.flatnonzero(is_start)
        self.distinct = len(self.starts) == n

    def _by_score(self, weights: np.ndarray) -> np.ndarray:
        """``weights`` summed per distinct score, in increasing score order."""
        ordered = weights if self.order is None else weights[:, self.order]
        return ordered if self.distinct else np.add.reduceat(ordered, self.starts, axis=1)

    def auc(
        self, positive: np.ndarray, negative: np.ndarray, self_pairs: bool = False
    ) -> np.ndarray:
        """AUC for each row of the ``(b, n)`` positive and negative weights (NaN where a side
        weighs nothing).

        With ``self_pairs`` False a row that is partly positive and partly negative (a
        probability as weight) is not paired with itself: its tie with itself is dropped
        from both the numerator and the denominator.
        """
        numerator, denominator = _auc(self._by_score(positive), self._by_score(negative))
        if not self_pairs:
            both = (positive * negative).sum(axis=1)
            numerator, denominator = numerator - 0.5 * both, denominator - both
        return ratio(numerator, denominator)

    def auc_of_labels(self, weights: np.ndarray, is_positive: np.ndarray) -> np.ndarray:
        """AUC for each row of ``weights`` when the rows' labels are ``is_positive``."""
        ordered = weights if self.order is None else weights[:, self.order]
        labels = is_positive if self.order is None else is_positive[self.order]
        positive = ordered * labels
        negative = ordered - positive
        if not self.distinct:
            positive = np.add.reduceat(positive, self.starts, axis=1)
            negative = np.add.reduceat(negative, self.starts, axis=1)
        return ratio(*_auc(positive, negative))


def _auc(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of AUC from weights per distinct score, in score order."""
    below = np.cumsum(negative, axis=1) - negative
    numerator = (positive * (below + 0.5 * negative)).sum(axis=1)
    return numerator, positive.sum(axis=1) * negative.sum(axis=1)
