"""Expected metrics of calibrated probabilities, and their spread over simulated labels.

CBPE's arithmetic (see ``estimation``): with calibrated probabilities a row counts as a
positive with weight p and a negative with weight 1 - p, so the expected confusion matrix,
and the metrics built from it, are the same weighted sums as realised metrics with those
weights. The band around each estimate comes from drawing labels from the probabilities
many times (in blocks, so memory stays flat) and computing the realised metric each time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mloop.monitoring.performance.bootstrap import BLOCK_CELLS
from mloop.monitoring.performance.ranking import RankedScores
from mloop.monitoring.performance.weighted import ratio

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MULTICLASS_METRICS = ("accuracy",)


def simulated_labels(
    probability: np.ndarray, n_simulations: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Blocks of ``(b, n)`` 0/1 labels drawn from ``probability``."""
    n = len(probability)
    per_block = max(1, BLOCK_CELLS // max(n, 1))
    for start in range(0, n_simulations, per_block):
        rows = min(per_block, n_simulations - start)
        yield (rng.random((rows, n)) < probability).astype(np.float64)


class BinaryExpectation:
    """Expected and simulated binary metrics of calibrated probabilities and decisions."""

    names = BINARY_METRICS

    def __init__(self, probability: np.ndarray, decided: np.ndarray, ranked: RankedScores) -> None:
        self.probability = probability
        self.decided = decided.astype(np.float64)
        self.ranked = ranked

    def _values(self, positive: np.ndarray, self_pairs: bool) -> dict[str, np.ndarray]:
        negative = 1.0 - positive
        n = positive.shape[1]
        tp = positive @ self.decided
        fp = self.decided.sum() - tp
        fn = positive.sum(axis=1) - tp
        tn = n - tp - fp - fn
        return {
            "accuracy": ratio(tp + tn, np.full_like(tp, n)),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
            "roc_auc": self.ranked.auc(positive, negative, self_pairs=self_pairs),
        }

    def expected(self) -> dict[str, float]:
        values = self._values(self.probability[None, :], self_pairs=False)
        return {name: float(v[0]) for name, v in values.items()}

    def simulated(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        for labels in simulated_labels(self.probability, n, rng):
            for name, values in self._values(labels, self_pairs=True).items():
                parts[name].append(values)
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def reason(self, name: str) -> str:
        if name == "precision":
            return "no row was predicted positive"
        if name == "roc_auc":
            return "the calibrated probabilities are all 0 or all 1"
        return "every calibrated probability is 0 where the metric needs positives"


class AccuracyExpectation:
    """Expected and simulated accuracy from the probability that each prediction is right."""

    names = MULTICLASS_METRICS

    def __init__(self, right: np.ndarray) -> None:
        self.right = right

    def expected(self) -> dict[str, float]:
        return {"accuracy": float(self.right.mean())}

    def simulated(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        chunks = [hits.mean(axis=1) for hits in simulated_labels(self.right, n, rng)]
        return {"accuracy": np.concatenate(chunks)}

    def reason(self, name: str) -> str:
        return "no rows"
