"""What one drift method computes for one column, before a threshold is applied."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """``statistic`` (a distance, or the test statistic), ``p_value`` for tests (None for
    distances), and whether it was computed on every value (``exact``: equal to scipy on the
    raw data) or on sketches (within the tolerances in docs/monitoring-statistics.md)."""

    statistic: float
    p_value: float | None
    exact: bool
