"""Per-group counts and rates of a yes/no decision, for many row weightings at once.

A row is *selected* when the model's decision is the positive label (approved, hired,
flagged), and *positive* when its true outcome is. Per group::

    selection_rate       = selected / rows
    accuracy             = (selected == positive) / labelled rows
    true_positive_rate   = selected positives / positives          (recall)
    false_positive_rate  = selected negatives / negatives
    false_negative_rate  = unselected positives / positives        (1 - TPR)

Selection rate uses every row, labelled or not (decisions are known at once, outcomes
later); the other rates use the labelled rows. A rate whose denominator is zero is NaN.
Weights are ``(b, n)`` as in ``mloop.monitoring.performance.bootstrap``: one row of ones
for the data, resample counts for bootstrap intervals.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mloop.monitoring.performance.groups import Groups
from mloop.monitoring.performance.weighted import ratio

RATES = (
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
)
# The indicator columns summed per group, in this order.
_COUNTS = ("rows", "selected", "labelled", "positives", "negatives", "tp", "fp", "correct")


@dataclasses.dataclass(frozen=True)
class Outcomes:
    """Per row: decided positive, has a label, and labelled positive (False if unlabelled)."""

    selected: np.ndarray
    labelled: np.ndarray
    positive: np.ndarray

    def indicators(self) -> np.ndarray:
        """The ``(n, 8)`` 0/1 matrix whose weighted column sums are ``_COUNTS``."""
        negative = self.labelled & ~self.positive
        return np.column_stack(
            [
                np.ones_like(self.selected),
                self.selected,
                self.labelled,
                self.positive,
                negative,
                self.selected & self.positive,
                self.selected & negative,
                self.labelled & (self.selected == self.positive),
            ]
        ).astype(np.float64)


class GroupedRows:
    """The rows' indicators sorted by group once, so each group is a contiguous block.

    ``counts(weights)`` then sums each group's block with one matrix product and no copy;
    weights must be in the same sorted order (``codes`` are the sorted group codes, the
    strata for a stratified bootstrap).
    """

    def __init__(self, indicators: np.ndarray, groups: Groups) -> None:
        order = np.argsort(groups.codes, kind="stable")
        self.codes = groups.codes[order]
        self.indicators = indicators[order]
        self.n_groups = len(groups)
        present, starts = np.unique(self.codes, return_index=True)
        stops = np.append(starts[1:], len(self.codes))
        self.blocks = list(zip(present.tolist(), starts.tolist(), stops.tolist(), strict=True))

    def counts(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Each of ``_COUNTS`` per group: ``(b, groups)`` arrays of weighted sums."""
        sums = np.zeros((weights.shape[0], self.n_groups, len(_COUNTS)))
        for code, start, stop in self.blocks:
            sums[:, code, :] = weights[:, start:stop] @ self.indicators[start:stop]
        return {name: sums[:, :, i] for i, name in enumerate(_COUNTS)}


def group_rates(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rates of ``RATES`` from ``GroupedRows.counts`` (NaN where undefined)."""
    positives = counts["positives"]
    return {
        "selection_rate": ratio(counts["selected"], counts["rows"]),
        "accuracy": ratio(counts["correct"], counts["labelled"]),
        "true_positive_rate": ratio(counts["tp"], positives),
        "false_positive_rate": ratio(counts["fp"], counts["negatives"]),
        "false_negative_rate": ratio(positives - counts["tp"], positives),
    }


def spread(rates: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Largest minus smallest defined rate among the ``judged`` groups, per row of ``rates``
    (NaN with fewer than two defined)."""
    low, high = _extremes(rates, judged)
    return high - low


def min_over_max(rates: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Smallest over largest defined rate among the ``judged`` groups, per row of ``rates``
    (NaN with fewer than two defined, or when the largest is 0)."""
    low, high = _extremes(rates, judged)
    return ratio(low, high)


def _extremes(rates: np.ndarray, judged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    defined = np.isfinite(rates) & judged
    enough = defined.sum(axis=1) >= 2
    low = np.where(defined, rates, np.inf).min(axis=1)
    high = np.where(defined, rates, -np.inf).max(axis=1)
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan)
