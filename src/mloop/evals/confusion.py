"""Weighted confusion matrices of fixed labels and predictions for many row weightings.

Rows are sorted once by (true label, predicted label), so every cell of the confusion
matrix is a run of consecutive rows; per block of weightings one gather puts the weights
in that order and one ``np.add.reduceat`` sums every run. Memory is one block of weights
whatever the number of classes, and integer weights give exact counts.
"""

from __future__ import annotations

import numpy as np


class Confusion:
    """Confusion matrices ``[weighting, true, predicted]`` of label codes ``0..k-1``."""

    def __init__(self, truth: np.ndarray, predicted: np.ndarray, k: int) -> None:
        self.k = k
        self._order = np.lexsort((predicted, truth))
        cells = truth[self._order] * k + predicted[self._order]
        new_cell = np.ones(len(cells), dtype=bool)
        new_cell[1:] = cells[1:] != cells[:-1]
        self._starts = np.flatnonzero(new_cell)
        self._cells = cells[self._starts]

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """The ``(b, k, k)`` weighted confusion matrices of the ``(b, n)`` weights."""
        out = np.zeros((len(weights), self.k * self.k))
        if len(self._cells):
            ordered = weights.take(self._order, axis=1)
            out[:, self._cells] = np.add.reduceat(ordered, self._starts, axis=1)
        return out.reshape(len(weights), self.k, self.k)
