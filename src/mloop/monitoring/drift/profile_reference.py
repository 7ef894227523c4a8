"""A stored dataset profile as a drift reference: ``from_profile(profile)``.

A registered dataset version already holds a ``DatasetProfile`` (``mloop.data.profile``), so
it can serve as a reference without reading the data again. What carries over, and what
precision is lost against ``summarize`` on the data:

- numeric columns: exact counts (values, nulls, NaN and infinities together as NaN), mean,
  and standard deviation (the profile's sample std, converted back to squared deviations);
  the distribution is the profile's 20-bin equal-width histogram between the exact minimum
  and maximum (``BinnedCounts``). Drift tests then see the distribution only at the 21 bin
  edges: KS measures the largest gap at an edge (it can miss a change that stays inside a
  bin), Wasserstein treats values as spread evenly inside each bin on both sides, and PSI
  uses those 20 bins instead of deciles. Automatic selection treats such a column as having
  many distinct values. The profile's quantiles come from a row sample and are not used.
- categorical columns: every category with its count when the profile kept them all (at
  most its ``max_categories``, 1,000 by default); otherwise only its top values are known,
  and the rest of the values count as ``(other)``. Booleans become ``true``/``false``.
- temporal and other columns are skipped; there is no row sample, so the domain classifier
  needs data (or a ``summarize``d reference) instead.
"""

from __future__ import annotations

import numpy as np

from mloop.data.profile import ColumnProfile, DatasetProfile
from mloop.monitoring.drift.binned import BinnedCounts
from mloop.monitoring.drift.categories import DEFAULT_MAX_CATEGORIES, CategoryCounts, category_label
from mloop.monitoring.drift.summary import (
    CategoricalSummary,
    ColumnSummary,
    DataSummary,
    NumericSummary,
)


def from_profile(profile: DatasetProfile) -> DataSummary:
    """A ``DataSummary`` from a stored dataset profile (see the module docstring)."""
    columns: dict[str, ColumnSummary] = {}
    skipped: dict[str, str] = {}
    for col in profile.columns:
        if col.kind == "numeric":
            columns[col.name] = _numeric(col)
        elif col.kind == "categorical":
            columns[col.name] = _categorical(col, profile)
        else:
            skipped[col.name] = col.type
    return DataSummary(
        rows=profile.row_count,
        columns=columns,
        sample=None,
        skipped=skipped,
        source=f"profile of {profile.source}" if profile.source else "dataset profile",
    )


def _numeric(col: ColumnProfile) -> NumericSummary:
    non_finite = col.non_finite_count or 0
    finite = col.count - non_finite
    if col.histogram is not None and finite > 0:
        edges = np.asarray(col.histogram.edges, dtype=np.float64)
        counts = np.asarray(col.histogram.counts, dtype=np.int64)
    else:  # no finite values: an empty distribution at 0
        edges, counts = np.zeros(2), np.zeros(1, dtype=np.int64)
    std = col.std or 0.0
    return NumericSummary(
        type=col.type,
        count=int(counts.sum()),
        nulls=col.null_count,
        nan=non_finite,
        pos_inf=0,
        neg_inf=0,
        mean=col.mean if finite > 0 else None,
        m2=std * std * max(finite - 1, 0),
        sketch=BinnedCounts(edges, counts),
    )


def _categorical(col: ColumnProfile, profile: DatasetProfile) -> CategoricalSummary:
    pairs = col.categories if col.categories is not None else (col.top or [])
    counts: dict[str, int] = {}
    for value, count in pairs:
        label = category_label(value)
        counts[label] = counts.get(label, 0) + int(count)
    other = col.count - sum(counts.values())
    cap = int(profile.settings.get("max_categories", DEFAULT_MAX_CATEGORIES))
    return CategoricalSummary(
        type=col.type,
        nulls=col.null_count,
        categories=(
            CategoryCounts(counts, other, max(cap, len(counts)), "top", tuple(counts))
            if other > 0
            else CategoryCounts(counts, 0, max(cap, len(counts)))
        ),
    )
