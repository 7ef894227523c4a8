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
    """Scores sorted once, with the start of each run of tied scores."""

    def __init__(self, scores: np.ndarray) -> None:
        self.order = np.argsort(scores, kind="stable")
        ordered = scores[self.order]
        is_start = np.empty(len(ordered), dtype=bool)
        is_start[:1] = True
        is_start[1:] = ordered[1:] != ordered[:-1]
        self.starts = np.flatnonzero(is_start)

    def auc(
        self, positive: np.ndarray, negative: np.ndarray, self_pairs: bool = False
    ) -> np.ndarray:
        """AUC for each row of the ``(b, n)`` positive and negative weights (NaN where a side
        weighs nothing).

        With ``self_pairs`` False a row that is partly positive and partly negative (a
        probability as weight) is not paired with itself: its tie with itself is dropped
        from both the numerator and the denominator.
        """
        pos = np.add.reduceat(positive[:, self.order], self.starts, axis=1)
        neg = np.add.reduceat(negative[:, self.order], self.starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
        denominator = pos.sum(axis=1) * neg.sum(axis=1)
        if not self_pairs:
            both = (positive * negative).sum(axis=1)
            numerator = numerator - 0.5 * both
            denominator = denominator - both
        return ratio(numerator, denominator)
