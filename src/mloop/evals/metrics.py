"""Suite metrics for many row weightings at once: the data itself, a slice, or bootstrap
resamples.

Every built-in metric is a function of weighted sums over the rows, so it is computed for a
``(b, n)`` weight matrix ``W`` in one pass: a row of ones is the data, a 0/1 row a slice,
resample counts a bootstrap. :func:`metric_function` does the work that does not depend on
the weights once (per-row losses, one sort of the scores for ROC AUC, the confusion layout),
and returns a function of ``W``:

- accuracy, log loss, MAE, RMSE, R^2 and ranking metrics: dot products of ``W`` with
  per-row (per-query) values;
- precision, recall, F1 and balanced accuracy: weighted confusion matrices
  (:mod:`mloop.evals.confusion`);
- ROC AUC: weighted Mann-Whitney from one sort (:mod:`mloop.evals.rocauc`).

Values equal scikit-learn's on the same data (``tests/evals/test_metrics.py``): precision,
recall and F1 are binary for the positive label when there is one (labels 0/1 or booleans,
or the suite's ``positive_label``) and macro averages otherwise; ROC AUC is one-vs-rest
macro for more than two classes; log loss clips probabilities as scikit-learn does. Ranking
metrics are per query and then averaged, so their weights are per query (bootstrap
resamples queries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.evals.confusion import Confusion
from mloop.evals.names import MetricName
from mloop.evals.ranking import query_values
from mloop.evals.ratios import ratio
from mloop.evals.rocauc import RocAuc

Metric = Callable[[np.ndarray], np.ndarray]  # (b, n) weights -> (b,) values


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


def metric_function(name: MetricName, out: Outputs) -> Metric:
    """The built-in metric ``name`` of ``out`` as a function of ``(b, n)`` row weights (per
    query for ranking) returning ``(b,)`` values, NaN where undefined."""
    if out.task == "classification":
        return _classification(name.base, out)
    if out.task == "regression":
        return _regression(name.base, out)
    return _mean_of(query_values(name.base, name.k, out.truth, out.predicted, out.group))


def weighted(name: MetricName, out: Outputs, weights: np.ndarray) -> np.ndarray:
    """The built-in metric ``name`` for each row of ``weights`` (``(b, n)``; per query for
    ranking), NaN where undefined."""
    return metric_function(name, out)(weights)


def _dot(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``weights @ values`` without BLAS: its threads made these small products 100 times
    slower on a busy two-core machine (8 ms instead of 0.05 ms at 100,000 rows)."""
    return np.einsum("ij,j->i", weights, values)


def _mean_of(values: np.ndarray) -> Metric:
    """The weighted mean of fixed per-row values."""
    return lambda w: ratio(_dot(w, values), w.sum(axis=1))


def _classification(base: str, out: Outputs) -> Metric:
    if base == "accuracy":
        return _mean_of(out.correct)
    if base == "log_loss":
        return _mean_of(_row_log_loss(out))
    if base == "roc_auc":
        return _roc_auc(out)
    return _from_confusion(base, out)


def _from_confusion(base: str, out: Outputs) -> Metric:
    truth, pred = out.truth, out.predicted
    k = len(out.labels) if out.labels is not None else int(max(truth.max(), pred.max())) + 1
    confusion = Confusion(truth, pred, k)
    present = np.isin(np.arange(k), np.unique(truth))  # classes of y_true, as sklearn
    used = np.isin(np.arange(k), np.union1d(np.unique(truth), np.unique(pred)))

    def metric(w: np.ndarray) -> np.ndarray:
        cells = confusion(w)
        actual, predicted = cells.sum(axis=2), cells.sum(axis=1)
        hits = np.diagonal(cells, axis1=1, axis2=2)
        if base == "balanced_accuracy":
            recall = ratio(hits, actual)[:, present]
            return np.nanmean(np.where(actual[:, present] > 0, recall, np.nan), axis=1)
        precision = np.nan_to_num(ratio(hits, predicted))  # 0 where undefined, as sklearn
        recall = np.nan_to_num(ratio(hits, actual))
        f1 = np.nan_to_num(ratio(2 * hits, actual + predicted))
        value = {"precision": precision, "recall": recall, "f1": f1}[base]
        if out.positive is not None:
            return value[:, out.positive]
        return value[:, used].mean(axis=1)

    return metric


def _row_log_loss(out: Outputs) -> np.ndarray:
    proba = _require_proba(out)
    proba = proba / proba.sum(axis=1, keepdims=True)
    eps = np.finfo(proba.dtype).eps
    chosen = proba[np.arange(len(out.truth)), out.truth]
    return -np.log(np.clip(chosen, eps, 1 - eps))


def _roc_auc(out: Outputs) -> Metric:
    proba = _require_proba(out)
    k = proba.shape[1]
    if k == 2 or out.positive is not None:
        positive = out.positive if out.positive is not None else 1
        return RocAuc(proba[:, positive], out.truth == positive)
    per_class = [RocAuc(proba[:, c], out.truth == c) for c in range(k)]
    return lambda w: np.mean([auc(w) for auc in per_class], axis=0)


def _require_proba(out: Outputs) -> np.ndarray:
    if out.proba is None:
        raise ValidationError(
            "roc_auc and log_loss need class probabilities, and this model has no predict_proba",
            field="metrics",
        )
    return out.proba


def _regression(base: str, out: Outputs) -> Metric:
    y, error = out.truth, out.predicted - out.truth
    if base == "rmse":
        mse = _mean_of(error * error)
        return lambda w: np.sqrt(mse(w))
    if base == "mae":
        return _mean_of(np.abs(error))
    columns = (y, y * y, error * error)

    def r2(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        s_y, s_y2, sse = (_dot(w, column) for column in columns)
        sst = s_y2 - ratio(s_y * s_y, total)
        # scikit-learn's force_finite: constant truth scores 1 when predicted exactly, else 0.
        constant = np.isclose(sst, 0.0, atol=1e-12 * np.maximum(1.0, s_y2))
        return np.where(constant, np.where(np.isclose(sse, 0.0), 1.0, 0.0), 1.0 - ratio(sse, sst))

    return r2


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
