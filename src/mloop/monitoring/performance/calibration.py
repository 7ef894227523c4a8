"""Calibration: do predicted probabilities match observed frequencies?

Probabilities are put in ``n_bins`` equal-width bins over [0, 1] (fixed edges, so windows
compare bin by bin; a value on an edge belongs to the lower bin, as in scikit-learn's
``calibration_curve``). Each bin reports its count, mean predicted probability and observed
rate. The expected calibration error is the count-weighted mean gap::

    ECE = sum over bins of (count_b / n) * |mean predicted_b - observed rate_b|

and the maximum calibration error is the largest gap of a non-empty bin.

Binary problems use the probability of the positive class against "is positive"; multiclass
problems use the top-label confidence (the largest probability) against "the most probable
class is right".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.bootstrap import Bootstrap, point_weights, resampled
from mloop.monitoring.performance.labelled import LabelledClassification, prepare_classification
from mloop.monitoring.performance.results import Metric, finite_or_none, make_metric
from mloop.monitoring.performance.weighted import column_sums, ratio


@dataclasses.dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram (means are None for an empty bin)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_rate: float | None


@dataclasses.dataclass(frozen=True)
class CalibrationReport:
    """A reliability diagram and its summary errors for one window."""

    kind: str  # "positive_class" (binary) or "top_label" (multiclass)
    positive_label: Any  # the class whose probability is binned (binary), else None
    n_labelled: int
    n_missing_labels: int
    bins: tuple[ReliabilityBin, ...]
    expected_calibration_error: Metric
    maximum_calibration_error: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "positive_label": self.positive_label,
            "n_labelled": self.n_labelled,
            "n_missing_labels": self.n_missing_labels,
            "bins": [dataclasses.asdict(b) for b in self.bins],
            "expected_calibration_error": self.expected_calibration_error.to_dict(),
            "maximum_calibration_error": self.maximum_calibration_error,
        }


def calibration_report(
    y_true: Any,
    y_proba: Any,
    *,
    classes: Sequence[Hashable] | None = None,
    positive_label: Hashable | None = None,
    n_bins: int = 10,
    bootstrap: Bootstrap | None = None,
) -> CalibrationReport:
    """The reliability bins and calibration errors of ``y_proba`` against ``y_true``.

    Rows without a label are left out and counted. ``y_proba`` is the positive-class
    probability (binary) or one column per class in the order of ``classes``.
    """
    check_bins(n_bins)
    data = prepare_classification(
        y_true, None, y_proba, classes=classes, positive_label=positive_label
    )
    confidence, hit = confidence_and_hit(data)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = bin_index(confidence, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    predicted = ratio(np.bincount(index, weights=confidence, minlength=n_bins), counts)
    observed = ratio(np.bincount(index, weights=hit, minlength=n_bins), counts)
    bins = tuple(
        ReliabilityBin(
            lower=float(edges[b]),
            upper=float(edges[b + 1]),
            count=int(counts[b]),
            mean_predicted=finite_or_none(predicted[b]),
            observed_rate=finite_or_none(observed[b]),
        )
        for b in range(n_bins)
    )
    gaps = np.abs(predicted - observed)
    point = expected_calibration_error(point_weights(len(hit)), confidence, hit, index, n_bins)
    samples = None
    if bootstrap is not None and len(hit):
        samples = resampled(
            lambda w: {"ece": expected_calibration_error(w, confidence, hit, index, n_bins)},
            len(hit),
            bootstrap,
        )["ece"]
    return CalibrationReport(
        kind="positive_class" if data.binary else "top_label",
        positive_label=data.positive_label if data.binary else None,
        n_labelled=data.n_labelled,
        n_missing_labels=data.n_missing_labels,
        bins=bins,
        expected_calibration_error=make_metric(
            point[0],
            "no labelled rows",
            samples,
            bootstrap.confidence if bootstrap else 0.95,
        ),
        maximum_calibration_error=finite_or_none(np.nanmax(gaps)) if counts.any() else None,
    )


def check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValidationError(f"n_bins must be a positive integer, got {n_bins!r}", field="n_bins")


def confidence_and_hit(data: LabelledClassification) -> tuple[np.ndarray, np.ndarray]:
    """The binned probability and whether it came true, per labelled row (needs probabilities)."""
    if data.proba is None:
        raise ValidationError("calibration needs y_proba", field="y_proba")
    if data.binary:
        return data.proba[:, data.positive], (data.true == data.positive).astype(np.float64)
    top = np.argmax(data.proba, axis=1)
    return data.proba.max(axis=1), (top == data.true).astype(np.float64)


def bin_index(probability: np.ndarray, n_bins: int) -> np.ndarray:
    """The bin of each probability among ``n_bins`` equal bins (an edge value goes below)."""
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.searchsorted(inner_edges, probability)


def expected_calibration_error(
    weights: np.ndarray,
    confidence: np.ndarray,
    hit: np.ndarray,
    index: np.ndarray,
    n_bins: int,
) -> np.ndarray:
    """ECE for each row of ``weights``: ``sum_b |sum w*p - sum w*y| / sum w`` over bins."""
    residual = confidence - hit
    sums = column_sums(weights, lambda part: bin_columns(residual, index, n_bins, part), n_bins)
    return ratio(np.abs(sums).sum(axis=1), weights.sum(axis=1))


def bin_columns(residual: np.ndarray, index: np.ndarray, n_bins: int, part: slice) -> np.ndarray:
    """Rows ``part`` of the ``(n, n_bins)`` matrix holding each row's ``p - y`` in its bin's
    column: its weighted column sums are the per-bin gaps before the absolute value."""
    rows = residual[part]
    out = np.zeros((len(rows), n_bins))
    out[np.arange(len(rows)), index[part]] = rows
    return out
