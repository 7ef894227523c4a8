"""The value of one metric: a number or None with the reason, and its confidence interval.

A metric that cannot be computed on a window (ROC AUC when every label is one class,
precision when nothing was predicted positive) is ``Metric(value=None, reason=...)`` rather
than an exception or a NaN, so a monitor can store it, chart the gap and show why.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric's value, its interval (when asked for) and why it is missing (when it is).

    ``low`` and ``high`` bound a percentile bootstrap interval (or, for estimates made
    before labels arrive, the band the realised value should fall in); they are None when
    no interval was asked for or none could be formed.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        """The metric as JSON-ready values: ``value`` always, the other fields when set."""
        fields = dataclasses.asdict(self)
        return {k: v for k, v in fields.items() if k == "value" or v is not None}


def finite_or_none(value: float) -> float | None:
    """``value`` as a Python float, or None for NaN and infinities."""
    number = float(value)
    return number if math.isfinite(number) else None


def make_metric(
    point: float,
    reason: str,
    samples: np.ndarray | None = None,
    confidence: float = 0.95,
) -> Metric:
    """A Metric from a point value (NaN when undefined: ``reason`` says why) and, when given,
    the resampled values whose percentiles bound the interval (undefined resamples dropped)."""
    value = finite_or_none(point)
    if value is None:
        return Metric(value=None, reason=reason)
    if samples is None:
        return Metric(value=value)
    low, high = percentile_interval(samples, confidence)
    return Metric(value=value, low=low, high=high)


def percentile_interval(
    samples: np.ndarray, confidence: float
) -> tuple[float | None, float | None]:
    """The central ``confidence`` interval of ``samples``, NaNs left out (None, None if all are)."""
    kept = samples[np.isfinite(samples)]
    if kept.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(kept, [tail, 1.0 - tail])
    return float(low), float(high)
