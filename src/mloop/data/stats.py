"""Distribution comparisons shared by distribution checks (and, later, drift monitors)."""

from __future__ import annotations

import math
from collections.abc import Sequence

PSI_EPSILON = 1e-4
"""Shares below this are raised to it before the logarithm, so an empty bin counts as a
large but finite difference."""


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], *, epsilon: float = PSI_EPSILON
) -> float:
    """PSI between two binned distributions given as counts (or shares) per bin.

    ``PSI = sum((a_i - e_i) * ln(a_i / e_i))`` over the bins, where ``e_i`` and ``a_i`` are
    the shares of the reference (expected) and current (actual) data in bin ``i``, each at
    least ``epsilon``. Common readings: below 0.1 no real change, 0.1 to 0.25 a moderate
    shift, above 0.25 a large one. Either side without any values gives NaN.
    """
    if len(expected) != len(actual):
        raise ValueError("expected and actual need the same number of bins")
    e_total = float(sum(expected))
    a_total = float(sum(actual))
    if e_total <= 0 or a_total <= 0:
        return math.nan
    psi = 0.0
    for e, a in zip(expected, actual, strict=True):
        e_share = max(e / e_total, epsilon)
        a_share = max(a / a_total, epsilon)
        psi += (a_share - e_share) * math.log(a_share / e_share)
    return psi
