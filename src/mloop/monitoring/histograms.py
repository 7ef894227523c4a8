"""Reference-versus-current histograms of one column, from the two stored summaries.

A window is never read again to be drawn: its stored ``DataSummary`` and the reference's
answer every question through their distributions (``QuantileSketch`` or ``BinnedCounts``,
both with a ``cdf``) and their category counts.

- Numbers: equal-width bins over the reference's range (one bin per whole number when the
  reference holds few whole numbers exactly), the same edges for both sides, so the bars
  compare bin by bin. Current values below the reference's minimum or above its maximum get
  a bin of their own on that side. Counts come from the distribution function: exact for
  exact sketches, modelled as spread evenly inside a sketch's bucket otherwise.
- Categories: the categories most common on either side, the rest as ``other``; a
  category the reference counted exactly and never saw is marked ``new``.

Shares are of the non-missing values on each side (missing values are a quality figure).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mloop.core.errors import ValidationError
from mloop.monitoring.drift import (
    CategoricalSummary,
    ColumnSummary,
    NumericSummary,
    QuantileSketch,
)

DEFAULT_BINS = 20
DEFAULT_TOP_CATEGORIES = 12
# A reference holding at most this many whole numbers exactly gets one bin per number.
MAX_WHOLE_BINS = 40
OTHER = "other"


@dataclass(frozen=True)
class Bin:
    """One bar pair: its label, the shares of each side's values in it, and what it is:
    a bin of the reference's range, values ``below`` or ``above`` it, a category, ``other``
    categories, or a ``new`` category the reference never saw."""

    label: str
    reference: float
    current: float
    kind: Literal["bin", "below", "above", "category", "other", "new"] = "bin"
    low: float | None = None  # numeric bins: the edges
    high: float | None = None


@dataclass(frozen=True)
class Histogram:
    """Both sides of one column on the same bins; ``*_count``: the non-missing values."""

    column: str
    kind: Literal["numeric", "categorical"]
    bins: list[Bin] = field(default_factory=list)
    reference_count: int = 0
    current_count: int = 0

    @property
    def largest_share(self) -> float:
        return max([0.0, *(max(b.reference, b.current) for b in self.bins)])


def _number(value: float) -> str:
    return f"{value:.4g}"


def reference_edges(summary: NumericSummary, bins: int = DEFAULT_BINS) -> list[float]:
    """Bin edges over the reference's range: ``bins`` equal widths, one bin per whole number
    when the reference holds at most ``MAX_WHOLE_BINS`` whole numbers exactly, one bin for a
    constant column; empty for a column without finite values."""
    if bins < 1:
        raise ValidationError("bins must be at least 1", field="bins")
    low, high = summary.min, summary.max
    if low is None or high is None:
        return []
    if low == high:
        return [low, high]
    whole = _whole_edges(summary)
    if whole is not None:
        return whole
    step = (high - low) / bins
    edges = [low + i * step for i in range(bins)] + [high]
    return edges if all(b > a for a, b in itertools.pairwise(edges)) else [low, high]


def _whole_edges(summary: NumericSummary) -> list[float] | None:
    """Edges halfway between whole numbers, when the reference holds few whole numbers
    exactly (counts, ratings, small integers): one bin per number."""
    low, high = summary.min, summary.max
    sketch = summary.sketch
    if low is None or high is None or not isinstance(sketch, QuantileSketch) or not sketch.exact:
        return None
    if not (float(low).is_integer() and float(high).is_integer()) or high - low >= MAX_WHOLE_BINS:
        return None
    if not all(float(v).is_integer() for v in sketch.values()):
        return None
    return [low - 0.5 + i for i in range(int(high - low) + 2)]


@dataclass(frozen=True)
class BinCounts:
    """Values of a distribution in ``(edges[i], edges[i + 1]]`` (the first bin closed on
    both sides), below the first edge and above the last; fractional where modelled."""

    counts: list[float]
    below: float
    above: float
    total: int


def bin_counts(summary: NumericSummary, edges: Sequence[float]) -> BinCounts:
    """How many of ``summary``'s finite values fall in each bin between ``edges``."""
    if len(edges) < 2 or any(b < a for a, b in itertools.pairwise(edges)):
        raise ValidationError("edges must be at least two ascending numbers", field="edges")
    total = summary.count
    if total == 0:
        return BinCounts([0.0] * (len(edges) - 1), 0.0, 0.0, 0)
    points = np.asarray(edges, dtype=np.float64)
    below_first = float(summary.sketch.cdf(np.nextafter(points[:1], -np.inf))[0])
    cdf = summary.sketch.cdf(points)
    cdf[0] = below_first  # the first bin holds its left edge
    counts = np.clip(np.diff(cdf), 0.0, None) * total
    return BinCounts(
        counts=[float(c) for c in counts],
        below=below_first * total,
        above=max(0.0, 1.0 - float(cdf[-1])) * total,
        total=total,
    )


def _share(part: float, whole: int) -> float:
    return part / whole if whole else 0.0


def numeric_histogram(
    column: str, reference: NumericSummary, current: NumericSummary, bins: int = DEFAULT_BINS
) -> Histogram:
    """Both sides on the reference's bins, current values outside them on either side."""
    edges = reference_edges(reference, bins)
    if not edges:
        return Histogram(column, "numeric", [], reference.count, current.count)
    ref = bin_counts(reference, edges)
    cur = bin_counts(current, edges)
    whole = _whole_edges(reference) is not None
    found: list[Bin] = []
    if cur.below > 0:
        found.append(Bin(f"< {_number(edges[0])}", 0.0, _share(cur.below, cur.total), "below"))
    for i, (r, c) in enumerate(zip(ref.counts, cur.counts, strict=True)):
        low, high = edges[i], edges[i + 1]
        label = _number(low + 0.5) if whole else f"{_number(low)} to {_number(high)}"
        if low == high:
            label = _number(low)
        found.append(Bin(label, _share(r, ref.total), _share(c, cur.total), "bin", low, high))
    if cur.above > 0:
        found.append(Bin(f"> {_number(edges[-1])}", 0.0, _share(cur.above, cur.total), "above"))
    return Histogram(column, "numeric", found, ref.total, cur.total)


def categorical_histogram(
    column: str,
    reference: CategoricalSummary,
    current: CategoricalSummary,
    top: int = DEFAULT_TOP_CATEGORIES,
) -> Histogram:
    """The ``top`` categories most common on either side, then ``other``."""
    if top < 1:
        raise ValidationError("top must be at least 1", field="top")
    ref_counts, cur_counts = reference.categories.counts, current.categories.counts
    ref_total, cur_total = reference.count, current.count
    labels = set(ref_counts) | set(cur_counts)

    def weight(label: str) -> tuple[float, str]:
        share = max(
            _share(ref_counts.get(label, 0), ref_total), _share(cur_counts.get(label, 0), cur_total)
        )
        return -share, label

    shown = sorted(labels, key=weight)[:top]
    found = []
    for label in shown:
        new = reference.categories.known(label) and ref_counts.get(label, 0) == 0
        found.append(
            Bin(
                label,
                _share(ref_counts.get(label, 0), ref_total),
                _share(cur_counts.get(label, 0), cur_total),
                "new" if new else "category",
            )
        )
    rest_ref = ref_total - sum(ref_counts.get(label, 0) for label in shown)
    rest_cur = cur_total - sum(cur_counts.get(label, 0) for label in shown)
    if rest_ref > 0 or rest_cur > 0:
        found.append(Bin(OTHER, _share(rest_ref, ref_total), _share(rest_cur, cur_total), "other"))
    return Histogram(column, "categorical", found, ref_total, cur_total)


def column_histogram(
    column: str,
    reference: ColumnSummary,
    current: ColumnSummary,
    *,
    bins: int = DEFAULT_BINS,
    top: int = DEFAULT_TOP_CATEGORIES,
) -> Histogram:
    """The histogram of a column summarised the same way on both sides."""
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        return numeric_histogram(column, reference, current, bins)
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        return categorical_histogram(column, reference, current, top)
    raise ValidationError(
        f"column {column!r} is {reference.kind} in the reference and {current.kind} in the "
        "window: they cannot share bins",
        field="column",
    )
