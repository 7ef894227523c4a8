"""Automatic choice of a drift method per column, after Evidently's documented defaults.

With ``n`` the reference's non-null (finite) values in the column and ``u`` the distinct
values of both sides together:

===================  ==========================  =====================================
                     ``n <= 1000``               ``n > 1000``
===================  ==========================  =====================================
numeric, ``u > 5``   ``ks`` (p < 0.05)           ``wasserstein`` (>= 0.1 std)
numeric, ``u <= 5``  ``chisquare``; ``z`` if     ``jensenshannon`` (>= 0.1)
                     ``u <= 2``
categorical          ``chisquare``; ``z`` if     ``jensenshannon`` (>= 0.1)
                     ``u <= 2``
===================  ==========================  =====================================

Why: on small samples a p-value test is the honest judge; on large ones every test finds
some difference, so a distance with a practical threshold decides. A sketch that is no
longer exact, or categories past the cap, count as more than 5 distinct values.
"""

from __future__ import annotations

import numpy as np

from mloop.monitoring.drift.sketch import QuantileSketch
from mloop.monitoring.drift.summary import CategoricalSummary, ColumnSummary, NumericSummary

SMALL_REFERENCE = 1000
"""References with at most this many values in a column get p-value tests."""

FEW_VALUES = 5
"""Numeric columns with at most this many distinct values are tested as categories."""

BINARY = 2


def distinct_values(reference: ColumnSummary, current: ColumnSummary) -> int | None:
    """Distinct non-null values of both sides together, or None when a side does not know
    its values exactly (a bucketed sketch, capped categories)."""
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        a, b = reference.sketch, current.sketch
        if isinstance(a, QuantileSketch) and isinstance(b, QuantileSketch) and a.exact and b.exact:
            return int(np.union1d(a.values(), b.values()).size)
        return None
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        if reference.categories.capped or current.categories.capped:
            return None
        return len({*reference.categories.counts, *current.categories.counts})
    return None


def choose_method(reference: ColumnSummary, current: ColumnSummary) -> tuple[str, str]:
    """The method for a column and why, as one sentence."""
    n = reference.count
    unique = distinct_values(reference, current)
    many = unique is None or unique > FEW_VALUES
    values = "more than 5" if unique is None else f"{unique}"
    size = f"{n:,} reference values ({'<=' if n <= SMALL_REFERENCE else '>'} 1,000)"
    if n <= SMALL_REFERENCE:
        if reference.kind == "numeric" and many:
            name = "ks"
        elif unique is not None and unique <= BINARY:
            name = "z"
        else:
            name = "chisquare"
    elif reference.kind == "numeric" and many:
        name = "wasserstein"
    else:
        name = "jensenshannon"
    return name, f"{reference.kind}, {size}, {values} distinct values: {name}"
