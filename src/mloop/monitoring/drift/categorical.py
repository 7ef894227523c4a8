"""Drift tests on category counts: chi-square, Jensen-Shannon distance, PSI and the Z-test.

Each takes both sides' counts over the same categories (``aligned_counts``). Numeric
columns reach these tests through ``numeric_categories``: each distinct value is a category
when both sides are exact with at most ``DISCRETE_MAX`` distinct values between them, else
the reference's deciles are the categories.

- ``chisquare``: Pearson's chi-square test of homogeneity on the 2 x k table of both sides'
  counts (``scipy.stats.chi2_contingency``, no continuity correction): are the two samples
  drawn from the same category shares? Both samples' noise counts, so a reference no larger
  than the window does not inflate the statistic.
- ``chisquare_gof``: Pearson's goodness-of-fit test of the current counts against the
  reference shares taken as exact (``scipy.stats.chisquare(current, reference_share *
  n_current)``), the definition Evidently calls ``chisquare``. Right when the reference is
  much larger than the window; with samples of similar size its statistic is about twice
  what the null distribution expects, so it calls drift far too often (about half of
  unchanged 10-category columns at p < 0.05). A category the reference never saw has an
  expected count of 0: the statistic is infinite and the p-value 0.
- ``jensenshannon``: ``scipy.spatial.distance.jensenshannon`` of the two share vectors,
  natural logarithm: 0 for equal distributions, at most sqrt(ln 2) ~ 0.833.
- ``psi``: population stability index over the categories, shares floored at 1e-4.
- ``z``: two-proportion Z-test (pooled variance, two-sided) on the share of the reference's
  most frequent category (ties: the first label); meant for binary columns. The statistic
  is positive when that share grew.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance

from mloop.core.errors import ValidationError
from mloop.data.stats import population_stability_index
from mloop.monitoring.drift.categories import category_label, label_rank
from mloop.monitoring.drift.numeric import binned_counts, exact_pair
from mloop.monitoring.drift.outcome import Outcome
from mloop.monitoring.drift.summary import CategoricalSummary, ColumnSummary, NumericSummary

FloatArray = npt.NDArray[np.float64]

OTHER = "(other)"
"""The label of values whose categories a capped summary did not keep."""

DISCRETE_MAX = 20
"""Numeric columns with at most this many distinct values (both sides together) are
compared value by value; above, over the reference's deciles."""


def aligned_counts(
    reference: CategoricalSummary, current: CategoricalSummary
) -> tuple[list[str], FloatArray, FloatArray]:
    """Labels and both sides' counts over the same categories.

    Without a cap every category of either side is a label. When either side folded
    categories into ``other``, the labels are the ``max_categories`` of lowest hash rank
    among both sides' kept ones (see ``categories``: each side then holds the full count of
    every such label it saw), and all other values count as ``(other)`` on both sides. A
    side built from a profile's top values contributes only those (known on both sides).
    """
    a, b = reference.categories, current.categories
    if "top" in (a.kept, b.kept):
        # Only the categories a profile named are known; each must be known on both sides.
        top, rest = (a, b) if a.kept == "top" else (b, a)
        labels = [x for x in top.vocabulary if rest.known(x)]
    else:
        labels = sorted({*a.counts, *b.counts}, key=label_rank)
        if a.capped or b.capped:
            labels = labels[: min(a.max_categories, b.max_categories)]
    ref = np.array([a.counts.get(label, 0) for label in labels], dtype=np.float64)
    cur = np.array([b.counts.get(label, 0) for label in labels], dtype=np.float64)
    ref_other, cur_other = a.total - ref.sum(), b.total - cur.sum()
    if ref_other or cur_other:
        labels.append(OTHER)
        ref, cur = np.r_[ref, ref_other], np.r_[cur, cur_other]
    return labels, ref, cur


def numeric_categories(
    reference: NumericSummary, current: NumericSummary
) -> tuple[list[str], FloatArray, FloatArray]:
    """A numeric column's counts as categories: its distinct values when both sides are
    exact and hold at most ``DISCRETE_MAX`` of them together, else the reference deciles."""
    pair = exact_pair(reference, current)
    if pair is not None:
        ref_values, ref_counts, cur_values, cur_counts = pair
        values = np.union1d(ref_values, cur_values)
        if values.size <= DISCRETE_MAX:
            ref = np.zeros(values.size)
            cur = np.zeros(values.size)
            ref[np.searchsorted(values, ref_values)] = ref_counts
            cur[np.searchsorted(values, cur_values)] = cur_counts
            return [category_label(float(v)) for v in values], ref, cur
    return binned_counts(reference, current)


def counts_of(
    reference: ColumnSummary, current: ColumnSummary
) -> tuple[list[str], FloatArray, FloatArray, bool]:
    """Labels, both sides' counts, and whether they are exact category counts."""
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        labels, ref, cur = aligned_counts(reference, current)
        return labels, ref, cur, True
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        labels, ref, cur = numeric_categories(reference, current)
        return labels, ref, cur, exact_pair(reference, current) is not None
    raise ValidationError("both sides of a column must be of the same kind", field="columns")


def chisquare(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    """Chi-square test of homogeneity of the two samples' category counts."""
    _, ref, cur, exact = counts_of(reference, current)
    present = (ref > 0) | (cur > 0)
    if present.sum() < 2:  # one category on both sides: nothing can differ
        return Outcome(0.0, 1.0, exact)
    table = np.vstack([ref[present], cur[present]])
    result = stats.chi2_contingency(table, correction=False)
    return Outcome(float(result.statistic), float(result.pvalue), exact)


def chisquare_gof(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    """Goodness of fit of the current counts to the reference shares (Evidently's)."""
    _, ref, cur, exact = counts_of(reference, current)
    present = (ref > 0) | (cur > 0)
    ref, cur = ref[present], cur[present]
    if ((ref == 0) & (cur > 0)).any():  # a category new in the current window
        return Outcome(float("inf"), 0.0, exact)
    if ref.size < 2:  # one category on both sides: nothing can differ
        return Outcome(0.0, 1.0, exact)
    expected = ref * (cur.sum() / ref.sum())
    result = stats.chisquare(cur, expected)
    return Outcome(float(result.statistic), float(result.pvalue), exact)


def jensenshannon(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    _, ref, cur, exact = counts_of(reference, current)
    value = distance.jensenshannon(ref / ref.sum(), cur / cur.sum())
    return Outcome(float(value), None, exact)


def psi(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    _, ref, cur, exact = counts_of(reference, current)
    return Outcome(population_stability_index(ref.tolist(), cur.tolist()), None, exact)


def z_test(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    """Two-proportion Z-test on the share of the reference's most frequent category."""
    labels, ref, cur, exact = counts_of(reference, current)
    top = min(range(len(labels)), key=lambda i: (-ref[i], labels[i]))
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = ref[top] / n1, cur[top] / n2
    pooled = (ref[top] + cur[top]) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:  # all or none of both sides in that category
        return Outcome(0.0, 1.0, exact)
    z = float((p2 - p1) / np.sqrt(variance))  # positive: the share grew
    return Outcome(z, float(2 * stats.norm.sf(abs(z))), exact)
