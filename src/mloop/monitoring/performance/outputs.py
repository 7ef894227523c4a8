"""What a model returned in a window, without labels: predictions, confidence, review share.

- ``label_distribution``: count and share of each predicted label (a classifier's output).
- ``value_distribution``: count, mean, spread, quantiles and a histogram of numbers (a
  regressor's output, or any score). Pass the reference window's ``histogram.edges`` so
  windows compare bin by bin; values outside the edges are counted below and above.
- ``confidence_summary``: the distribution of confidence (a probability, or the largest
  probability of each row of ``predict_proba``) on fixed bins over [0, 1], and the share of
  rows under a review threshold: the rows a low-confidence rule routes to people.

Every result's ``to_dict`` is JSON-ready. Missing or non-finite outputs are not an error
here: they are counted in ``n_missing`` (a model returning NaN is worth an alert) and left
out of the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.inputs import (
    as_array,
    as_probabilities,
    encode_labels,
    missing_mask,
    resolve_classes,
    to_numpy,
)

DEFAULT_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclasses.dataclass(frozen=True)
class Histogram:
    """Counts per bin between ``edges`` (the last bin includes its right edge), plus the
    values below the first edge and above the last."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    below: int = 0
    above: int = 0


@dataclasses.dataclass(frozen=True)
class ValueDistribution:
    """Summary of a column of numbers (statistics are None when no value is present)."""

    n_rows: int
    n_missing: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    quantiles: dict[str, float]  # "p50": the median; "p5": the 5th percentile
    histogram: Histogram

    def to_dict(self) -> dict[str, Any]:
        return _lists(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class LabelCount:
    label: Any
    count: int
    share: float


@dataclasses.dataclass(frozen=True)
class LabelDistribution:
    """Count and share of each predicted label (shares of the non-missing rows)."""

    n_rows: int
    n_missing: int
    labels: tuple[LabelCount, ...]

    def to_dict(self) -> dict[str, Any]:
        return _lists(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class ConfidenceSummary:
    """The distribution of confidence and, with a threshold, the share sent to review."""

    distribution: ValueDistribution
    review_threshold: float | None
    n_for_review: int | None
    share_for_review: float | None

    def to_dict(self) -> dict[str, Any]:
        return _lists(dataclasses.asdict(self))


def label_distribution(
    predictions: Any, *, classes: Sequence[Hashable] | None = None
) -> LabelDistribution:
    """How often each label was predicted; with ``classes`` every class is listed, even at 0."""
    values = as_array(predictions, "predictions")
    missing = missing_mask(values)
    present = values[~missing]
    known = resolve_classes(classes, {"predictions": present})
    counts = np.bincount(encode_labels(present, known, "predictions"), minlength=len(known))
    total = max(int(counts.sum()), 1)
    return LabelDistribution(
        n_rows=len(values),
        n_missing=int(missing.sum()),
        labels=tuple(
            LabelCount(label, int(count), float(count) / total)
            for label, count in zip(known, counts.tolist(), strict=True)
        ),
    )


def value_distribution(
    values: Any,
    *,
    edges: Sequence[float] | None = None,
    bins: int = 10,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> ValueDistribution:
    """Mean, spread, quantiles and histogram of numbers; ``edges`` fix the histogram's bins
    (default: ``bins`` equal bins from the smallest value to the largest)."""
    numbers = _numbers(values, "values")
    finite = numbers[np.isfinite(numbers)]
    _check_quantiles(quantiles)
    histogram_edges = _edges(edges, bins, finite)
    return _distribution(len(numbers), finite, histogram_edges, quantiles)


def confidence_summary(
    confidence: Any,
    *,
    review_threshold: float | None = None,
    bins: int = 10,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> ConfidenceSummary:
    """The confidence distribution on ``bins`` equal bins over [0, 1], and the rows whose
    confidence is below ``review_threshold`` (their number and share of the rows present).

    ``confidence`` is one probability per row (missing values are counted), or a complete
    probability matrix (one column per class), whose largest value per row is taken.
    """
    raw = to_numpy(confidence) if confidence is not None else None
    if raw is not None and raw.ndim == 2:
        scores = as_probabilities(raw, None, tuple(range(raw.shape[1])), 0, "confidence")
        numbers = scores.max(axis=1)
    else:
        numbers = _numbers(confidence, "confidence")
    finite = numbers[np.isfinite(numbers)]
    if ((finite < 0.0) | (finite > 1.0)).any():
        raise ValidationError(
            "confidence must be probabilities in [0, 1]; pass predict_proba's output or the "
            "probability of the predicted class",
            field="confidence",
        )
    if review_threshold is not None and not 0.0 <= review_threshold <= 1.0:
        raise ValidationError(
            f"review_threshold must be in [0, 1], got {review_threshold}",
            field="review_threshold",
        )
    _check_quantiles(quantiles)
    _check_bins(bins)
    distribution = _distribution(len(numbers), finite, np.linspace(0.0, 1.0, bins + 1), quantiles)
    n_review = None if review_threshold is None else int((finite < review_threshold).sum())
    share = None
    if n_review is not None and finite.size:
        share = n_review / finite.size
    return ConfidenceSummary(distribution, review_threshold, n_review, share)


def _lists(value: Any) -> Any:
    """Tuples as lists, all the way down, so the dict equals its JSON round trip."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _numbers(values: Any, field: str) -> np.ndarray:
    array = as_array(values, field)
    missing = missing_mask(array)
    if array.dtype.kind == "O":
        array = np.where(missing, np.nan, array)
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} must hold numbers: {exc}", field=field) from exc


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValidationError(f"bins must be a positive integer, got {bins!r}", field="bins")


def _check_quantiles(quantiles: Sequence[float]) -> None:
    if any(not 0.0 <= q <= 1.0 for q in quantiles):
        raise ValidationError(
            f"quantiles must be fractions in [0, 1] (0.5 is the median), got {list(quantiles)}",
            field="quantiles",
        )


def _edges(edges: Sequence[float] | None, bins: int, finite: np.ndarray) -> np.ndarray:
    if edges is not None:
        fixed = np.asarray(edges, dtype=np.float64)
        if fixed.ndim != 1 or len(fixed) < 2 or not np.all(np.diff(fixed) > 0):
            raise ValidationError("edges must be at least two increasing numbers", field="edges")
        return fixed
    _check_bins(bins)
    if finite.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    low, high = float(finite.min()), float(finite.max())
    if low == high:  # one distinct value: a unit-wide bin around it
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _distribution(
    n_rows: int, finite: np.ndarray, edges: np.ndarray, quantiles: Sequence[float]
) -> ValueDistribution:
    counts, _ = np.histogram(finite, bins=edges)
    histogram = Histogram(
        edges=tuple(edges.tolist()),
        counts=tuple(counts.tolist()),
        below=int((finite < edges[0]).sum()),
        above=int((finite > edges[-1]).sum()),
    )
    if finite.size == 0:
        return ValueDistribution(n_rows, n_rows, None, None, None, None, {}, histogram)
    points = np.quantile(finite, list(quantiles)) if len(quantiles) else []
    return ValueDistribution(
        n_rows=n_rows,
        n_missing=n_rows - finite.size,
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(finite.min()),
        max=float(finite.max()),
        quantiles={f"p{q * 100:g}": float(v) for q, v in zip(quantiles, points, strict=True)},
        histogram=histogram,
    )
