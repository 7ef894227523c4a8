"""Regressor performance on labelled outcomes, with optional bootstrap intervals.

``regression_metrics(y_true, y_pred)`` returns a ``RegressionReport`` with:

- ``mae``: mean absolute error; ``rmse``: root mean squared error.
- ``mape``: mean absolute percentage error as a fraction (0.1 is 10%), like scikit-learn.
  It divides by the target, so rows whose target is exactly 0 are skipped and counted in
  ``n_zero_targets`` (scikit-learn instead divides by a tiny epsilon, which turns one zero
  target into an error of about 1e15). With every target 0 it is undefined.
- ``r2``: ``1 - SSE / SST``; undefined (None with a reason) with fewer than two rows or
  constant targets, where scikit-learn returns 0 or 1 by convention.

Rows whose target is missing are left out and counted (``n_missing_labels``); predictions
must all be finite numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mloop.monitoring.performance.bootstrap import Bootstrap, point_weights, resampled
from mloop.monitoring.performance.inputs import as_finite_floats, as_optional_floats, check_lengths
from mloop.monitoring.performance.results import Metric, make_metric
from mloop.monitoring.performance.weighted import column_sums, ratio

METRICS = ("mae", "rmse", "mape", "r2")


@dataclasses.dataclass(frozen=True)
class RegressionReport:
    """A regressor's metrics on one window (or slice) of labelled rows."""

    n_rows: int
    n_labelled: int
    n_missing_labels: int
    n_zero_targets: int  # labelled rows left out of MAPE
    metrics: dict[str, Metric]

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "n_missing_labels": self.n_missing_labels,
            "n_zero_targets": self.n_zero_targets,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


def regression_metrics(
    y_true: Any, y_pred: Any, *, bootstrap: Bootstrap | None = None
) -> RegressionReport:
    """MAE, RMSE, MAPE and R2 of one window; with ``bootstrap``, percentile intervals too."""
    target, missing = as_optional_floats(y_true, "y_true")
    predicted = as_finite_floats(y_pred, "y_pred")
    check_lengths(y_true=target, y_pred=predicted)
    return report_from_arrays(target, predicted, missing, bootstrap=bootstrap)


def report_from_arrays(
    target: np.ndarray,
    predicted: np.ndarray,
    missing: np.ndarray,
    *,
    bootstrap: Bootstrap | None = None,
) -> RegressionReport:
    """The report of checked float arrays (``missing`` marks rows without a target)."""
    n_rows = len(target)
    target, predicted = target[~missing], predicted[~missing]
    n = len(target)
    zero = target == 0.0
    if n == 0:
        empty = Metric(value=None, reason=f"no labelled rows yet ({n_rows} rows await labels)")
        return RegressionReport(n_rows, 0, n_rows, 0, {name: empty for name in METRICS})

    columns = _columns(target, predicted, zero)

    def compute(weights: np.ndarray) -> dict[str, np.ndarray]:
        return _values(column_sums(weights, lambda part: columns[part], columns.shape[1]))

    point = compute(point_weights(n))
    samples = resampled(compute, n, bootstrap) if bootstrap is not None else None
    level = bootstrap.confidence if bootstrap is not None else 0.95
    reasons = {
        "mae": "",
        "rmse": "",
        "mape": "every target is 0, so no percentage error is defined",
        "r2": "R2 needs at least two rows whose targets differ",
    }
    metrics = {
        name: make_metric(
            point[name][0], reasons[name], None if samples is None else samples[name], level
        )
        for name in METRICS
    }
    return RegressionReport(
        n_rows=n_rows,
        n_labelled=n,
        n_missing_labels=int(missing.sum()),
        n_zero_targets=int(zero.sum()),
        metrics=metrics,
    )


def _columns(target: np.ndarray, predicted: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Per row: 1, |error|, error^2, relative error (0 for a zero target), target is not
    zero, centred target and its square; every metric is a ratio of their weighted sums."""
    error = predicted - target
    nonzero = ~zero
    relative = np.zeros_like(error)
    relative[nonzero] = np.abs(error[nonzero]) / np.abs(target[nonzero])
    # Centre the targets first: the sum of squares about the mean then loses no precision.
    centred = target - target.mean()
    return np.column_stack(
        [np.ones_like(error), np.abs(error), error**2, relative, nonzero, centred, centred**2]
    )


def _values(sums: np.ndarray) -> dict[str, np.ndarray]:
    total, absolute, squared, relative, nonzero, centred, centred_squared = sums.T
    mean = ratio(centred, total)
    sst = centred_squared - total * mean**2
    # Constant targets leave SST at rounding noise: treat it as zero.
    floor = 1e-12 * np.maximum(centred_squared, np.finfo(np.float64).tiny)
    sst = np.where(sst > floor, sst, 0.0)
    return {
        "mae": ratio(absolute, total),
        "rmse": np.sqrt(ratio(squared, total)),
        "mape": ratio(relative, nonzero),
        "r2": 1.0 - ratio(squared, sst),
    }
