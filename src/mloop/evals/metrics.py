"""Suite metrics for many row weightings at once: the data itself, a slice, or bootstrap
resamples.

Every built-in metric is a function of weighted sums of per-row columns, so ``W @ C`` for a
``(b, n)`` weight matrix ``W`` gives it for ``b`` weightings in one matrix product (the
approach of :mod:`mloop.monitoring.performance`): a row of ones is the data, a 0/1 row a
slice, resample counts a bootstrap. Values equal scikit-learn's on the same data
(``tests/evals/test_metrics.py``): precision, recall and F1 are binary for the positive
label when there is one (labels 0/1 or booleans, or the suite's ``positive_label``) and
macro averages otherwise; ROC AUC is one-vs-rest macro for more than two classes; log loss
clips probabilities as scikit-learn does. Ranking metrics are per query and then averaged,
so their weights are per query (bootstrap resamples queries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.evals.names import MetricName
from mloop.evals.ranking import query_values
from mloop.monitoring.performance.ranking import RankedScores
from mloop.monitoring.performance.weighted import column_sums, ratio


@dataclass
class Outputs:
    """One model's predictions on a suite's rows, beside the truth.

    Classification: ``truth`` and ``predicted`` are codes into ``labels``; ``proba`` (or
    None) has one column per label. Regression: floats. Ranking: ``truth`` relevance,
    ``predicted`` scores, ``group`` a query code per row.
    """

    task: str
    truth: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray | None = None
    proba: np.ndarray | None = None
    positive: int | None = None  # code of the positive label (binary metrics)
    group: np.ndarray | None = None
    raw_truth: np.ndarray | None = None  # labels as given (custom scorers)
    raw_predicted: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.truth)

    @property
    def correct(self) -> np.ndarray:
        return np.asarray(self.truth == self.predicted, dtype=np.float64)


def weighted(name: MetricName, out: Outputs, weights: np.ndarray) -> np.ndarray:
    """The built-in metric ``name`` for each row of ``weights`` (``(b, n)``; per query for
    ranking), NaN where undefined."""
    if out.task == "classification":
        return _classification(name.base, out, weights)
    if out.task == "regression":
        return _regression(name.base, out, weights)
    values = query_values(name.base, name.k, out.truth, out.predicted, out.group)
    return ratio(weights @ values, weights.sum(axis=1))


def _classification(base: str, out: Outputs, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    if base == "accuracy":
        return ratio(w @ out.correct, total)
    if base == "log_loss":
        return ratio(w @ _row_log_loss(out), total)
    if base == "roc_auc":
        return _roc_auc(out, w)
    k = len(out.labels) if out.labels is not None else 0
    truth, pred = out.truth, out.predicted

    def columns(part: slice) -> np.ndarray:
        t = np.eye(k)[truth[part]]
        p = np.eye(k)[pred[part]]
        return np.hstack([t, p, t * p])

    sums = column_sums(w, columns, 3 * k)
    actual, predicted, hits = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
    if base == "balanced_accuracy":
        present = np.isin(np.arange(k), np.unique(truth))  # classes of y_true, as sklearn
        recall = ratio(hits, actual)[:, present]
        return np.nanmean(np.where(actual[:, present] > 0, recall, np.nan), axis=1)
    precision = np.nan_to_num(ratio(hits, predicted))  # 0 where undefined, as sklearn
    recall = np.nan_to_num(ratio(hits, actual))
    f1 = np.nan_to_num(ratio(2 * hits, actual + predicted))
    value = {"precision": precision, "recall": recall, "f1": f1}[base]
    if out.positive is not None:
        return value[:, out.positive]
    used = np.isin(np.arange(k), np.union1d(np.unique(truth), np.unique(pred)))
    return value[:, used].mean(axis=1)


def _row_log_loss(out: Outputs) -> np.ndarray:
    proba = _require_proba(out)
    proba = proba / proba.sum(axis=1, keepdims=True)
    eps = np.finfo(proba.dtype).eps
    chosen = proba[np.arange(len(out.truth)), out.truth]
    return -np.log(np.clip(chosen, eps, 1 - eps))


def _roc_auc(out: Outputs, w: np.ndarray) -> np.ndarray:
    proba = _require_proba(out)
    k = proba.shape[1]
    if k == 2 or out.positive is not None:
        positive = out.positive if out.positive is not None else 1
        scores = RankedScores(proba[:, positive])
        return scores.auc_of_labels(w, out.truth == positive)
    per_class = [RankedScores(proba[:, c]).auc_of_labels(w, out.truth == c) for c in range(k)]
    return np.mean(per_class, axis=0)


def _require_proba(out: Outputs) -> np.ndarray:
    if out.proba is None:
        raise ValidationError(
            "roc_auc and log_loss need class probabilities, and this model has no predict_proba",
            field="metrics",
        )
    return out.proba


def _regression(base: str, out: Outputs, w: np.ndarray) -> np.ndarray:
    y, error = out.truth, out.predicted - out.truth
    sums = w @ np.column_stack([np.ones_like(y), y, y * y, error * error, np.abs(error)])
    total, s_y, s_y2, sse, sae = sums.T
    if base == "rmse":
        return np.sqrt(ratio(sse, total))
    if base == "mae":
        return ratio(sae, total)
    sst = s_y2 - ratio(s_y * s_y, total)
    r2 = 1.0 - ratio(sse, sst)
    # scikit-learn's force_finite: constant truth scores 1 when predicted exactly, else 0.
    constant = np.isclose(sst, 0.0, atol=1e-12 * np.maximum(1.0, s_y2))
    return np.where(constant, np.where(np.isclose(sse, 0.0), 1.0, 0.0), r2)


def call_scorer(fn: Any, out: Outputs, rows: np.ndarray | None) -> float:
    """A custom scorer on the rows ``rows`` (indices, repeats allowed; None: all)."""
    truth = out.raw_truth if out.raw_truth is not None else out.truth
    if getattr(fn, "needs_proba", False):
        predicted: Any = _require_proba(out)
    else:
        predicted = out.raw_predicted if out.raw_predicted is not None else out.predicted
    if rows is not None:
        truth, predicted = truth[rows], predicted[rows]
    value = fn(truth, predicted)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"scorer {getattr(fn, 'reference', fn)!r} returned {value!r}, not a number",
            field="scorers",
        ) from None
