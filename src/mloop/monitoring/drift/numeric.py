"""Drift tests on numeric columns: Kolmogorov-Smirnov, normalised Wasserstein distance, PSI.

Each takes the reference's and the current window's ``NumericSummary``. When both sketches
are exact (every distinct value kept), the result is what scipy computes on the raw values.
Otherwise both distributions are read at common breakpoints:

- two ``QuantileSketch``es are brought to the coarser shift, so they share bucket edges and
  both distribution functions are exact at every edge; between edges both are linear;
- with a ``BinnedCounts`` (a reference from a stored profile) the breakpoints are its bin
  edges: the other side is read at those edges only, so both sides are equally coarse.

KS is then the largest gap at a breakpoint (a lower bound of the exact statistic, short by
at most the mass of one bucket), Wasserstein the exact area between the two piecewise-linear
distribution functions, and PSI uses the distribution functions at its bin edges.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from scipy import stats

from mloop.data.stats import population_stability_index
from mloop.monitoring.drift.binned import BinnedCounts
from mloop.monitoring.drift.outcome import Outcome
from mloop.monitoring.drift.sketch import QuantileSketch
from mloop.monitoring.drift.summary import NumericSummary

FloatArray = npt.NDArray[np.float64]

STD_FLOOR = 0.001
"""The reference standard deviation used for a constant reference (as Evidently does); in
the column's own units."""

PSI_BINS = 10
"""Bins of numeric PSI: the reference's deciles (equal reference shares)."""

SCIPY_EXACT_KS_MAX = 10_000
"""Up to this many values per side scipy computes the KS p-value exactly; above it, and in
sketch mode, the asymptotic (Smirnov) distribution, as scipy's ``method="auto"`` does."""


def reference_scale(reference: NumericSummary) -> float:
    """The reference standard deviation (``ddof=0``), at least ``STD_FLOOR``."""
    return max(reference.std or 0.0, STD_FLOOR)


def exact_pair(
    reference: NumericSummary, current: NumericSummary
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None:
    """Distinct values and counts of both sides when both sketches are exact, else None."""
    a, b = reference.sketch, current.sketch
    if isinstance(a, QuantileSketch) and isinstance(b, QuantileSketch) and a.exact and b.exact:
        return a.values(), a.counts.astype(np.float64), b.values(), b.counts.astype(np.float64)
    return None


def breakpoints(
    reference: NumericSummary, current: NumericSummary
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Common breakpoints ``x`` and both distribution functions there (see the module
    docstring)."""
    a, b = reference.sketch, current.sketch
    if isinstance(a, QuantileSketch) and isinstance(b, QuantileSketch):
        shift = max(a.shift, b.shift)
        a, b = a.coarsened(shift), b.coarsened(shift)
        x = np.unique(np.concatenate([*a.edges(), *b.edges()]))
    else:
        binned = [s for s in (a, b) if isinstance(s, BinnedCounts)]
        x = np.unique(np.concatenate([s.bin_edges for s in binned]))
    return x, a.cdf(x), b.cdf(x)


def ks(reference: NumericSummary, current: NumericSummary) -> Outcome:
    """Two-sample Kolmogorov-Smirnov test (two-sided)."""
    n, m = reference.count, current.count
    pair = exact_pair(reference, current)
    if pair is not None:
        ref_values, ref_counts, cur_values, cur_counts = pair
        if max(n, m) <= SCIPY_EXACT_KS_MAX:
            result = stats.ks_2samp(
                np.repeat(ref_values, ref_counts.astype(np.int64)),
                np.repeat(cur_values, cur_counts.astype(np.int64)),
            )
            return Outcome(float(result.statistic), float(result.pvalue), True)
        points = np.union1d(ref_values, cur_values)
        gaps = _step_cdf(ref_values, ref_counts, points, n) - _step_cdf(
            cur_values, cur_counts, points, m
        )
        statistic = max(float(gaps.max()), float(np.clip(-gaps.min(), 0, 1)))
        return Outcome(statistic, _smirnov_p(statistic, n, m), True)
    _, f, g = breakpoints(reference, current)
    statistic = float(np.abs(f - g).max())
    return Outcome(statistic, _smirnov_p(statistic, n, m), False)


def _step_cdf(values: FloatArray, counts: FloatArray, at: FloatArray, total: int) -> FloatArray:
    """Counts at or below each point, over ``total`` (integers divided once, as scipy)."""
    cum = np.cumsum(counts.astype(np.int64))
    index = np.searchsorted(values, at, side="right")
    return np.where(index > 0, cum[np.maximum(index - 1, 0)], 0) / total


def _smirnov_p(statistic: float, n: int, m: int) -> float:
    big, small = max(n, m), min(n, m)
    effective = float(big) * float(small) / (big + small)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))


def wasserstein(reference: NumericSummary, current: NumericSummary) -> Outcome:
    """Wasserstein-1 distance divided by the reference standard deviation (``ddof=0``,
    floored at ``STD_FLOOR``): how far values moved, in reference standard deviations."""
    scale = reference_scale(reference)
    pair = exact_pair(reference, current)
    if pair is not None:
        ref_values, ref_counts, cur_values, cur_counts = pair
        distance = stats.wasserstein_distance(ref_values, cur_values, ref_counts, cur_counts)
        return Outcome(float(distance) / scale, None, True)
    x, f, g = breakpoints(reference, current)
    return Outcome(_area_between(x, f - g) / scale, None, False)


def _area_between(x: FloatArray, gap: FloatArray) -> float:
    """The integral of ``|gap|`` for a ``gap`` linear between breakpoints ``x``."""
    width = np.diff(x)
    left, right = gap[:-1], gap[1:]
    same_sign = left * right >= 0
    total = np.abs(left) + np.abs(right)
    crossing = np.divide(
        left * left + right * right, 2 * total, out=np.zeros_like(total), where=total > 0
    )
    area = np.where(same_sign, total / 2, crossing) * width
    return float(area.sum())


def bin_edges(reference: NumericSummary, bins: int = PSI_BINS) -> FloatArray:
    """Inner edges of the bins numeric PSI (and categorical methods on numbers) use: the
    reference's quantiles at ``1/bins .. (bins-1)/bins`` (for a reference from a profile,
    its histogram's inner edges). Repeated edges (discrete data) are merged."""
    sketch = reference.sketch
    if isinstance(sketch, BinnedCounts):
        return np.unique(sketch.bin_edges[1:-1])
    levels = np.arange(1, bins) / bins
    return np.unique(sketch.quantiles(levels))


def binned_counts(
    reference: NumericSummary, current: NumericSummary, bins: int = PSI_BINS
) -> tuple[list[str], FloatArray, FloatArray]:
    """Both sides' counts in the reference-quantile bins ``(-inf, e1], (e1, e2], ...``,
    with a label per bin."""
    edges = bin_edges(reference, bins)
    cuts = np.r_[edges, np.inf]
    ref_cdf = np.r_[0.0, reference.sketch.cdf(cuts)]
    cur_cdf = np.r_[0.0, current.sketch.cdf(cuts)]
    ref_counts = np.diff(ref_cdf) * reference.count
    cur_counts = np.diff(cur_cdf) * current.count
    bounds = [-np.inf, *edges.tolist(), np.inf]
    labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in itertools.pairwise(bounds)]
    return labels, ref_counts, cur_counts


def psi(reference: NumericSummary, current: NumericSummary, bins: int = PSI_BINS) -> Outcome:
    """Population stability index over the reference's deciles (shares floored at 1e-4,
    as ``mloop.data.population_stability_index``)."""
    _, ref_counts, cur_counts = binned_counts(reference, current, bins)
    exact = exact_pair(reference, current) is not None
    value = population_stability_index(ref_counts.tolist(), cur_counts.tolist())
    return Outcome(float(value), None, exact)
