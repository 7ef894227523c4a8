"""Effect size and direction of a column's change: how much moved and which way, whatever
the method that decided drift.

- numeric columns: the mean shift in reference standard deviations (``(mean_cur -
  mean_ref) / std_ref``, the standardised mean difference), with both means, standard
  deviations and medians in ``details``;
- categorical columns (and numeric ones tested as categories): the largest change of one
  category's share, in share points (``+0.12``: 12 % more of the values), with that
  category, the share of values in categories the reference never saw, and the categories
  that disappeared.

Null shares of both sides are in ``details`` too: a column that turns null is a data
quality problem drift tests do not see (they compare non-null values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mloop.monitoring.drift.categorical import OTHER, counts_of
from mloop.monitoring.drift.numeric import reference_scale
from mloop.monitoring.drift.summary import ColumnSummary, NumericSummary

Direction = Literal["up", "down", "none"]

EXAMPLES = 5
"""New or vanished categories listed in an effect's details."""


@dataclass(frozen=True)
class Effect:
    """``size`` (signed) in ``unit``; ``direction`` its sign; ``category`` the category
    whose share changed most (categorical effects only); more numbers in ``details``."""

    measure: Literal["mean_shift", "share_change"]
    unit: str
    size: float
    direction: Direction
    category: str | None = None
    details: dict[str, float | int | str | list[str] | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "unit": self.unit,
            "size": self.size,
            "direction": self.direction,
            "category": self.category,
            "details": dict(self.details),
        }


def _direction(value: float) -> Direction:
    return "up" if value > 0 else "down" if value < 0 else "none"


def _null_shares(reference: ColumnSummary, current: ColumnSummary) -> dict[str, float | None]:
    def share(summary: ColumnSummary) -> float | None:
        missing = summary.nulls + (summary.non_finite if isinstance(summary, NumericSummary) else 0)
        return missing / summary.rows if summary.rows else None

    return {"reference_missing_share": share(reference), "current_missing_share": share(current)}


def mean_shift(reference: NumericSummary, current: NumericSummary) -> Effect:
    """The standardised mean difference, in reference standard deviations."""
    assert reference.mean is not None and current.mean is not None
    scale = reference_scale(reference)
    size = (current.mean - reference.mean) / scale
    medians = [float(s.sketch.quantiles([0.5])[0]) for s in (reference, current)]
    return Effect(
        measure="mean_shift",
        unit="reference standard deviations",
        size=size,
        direction=_direction(size),
        details={
            "reference_mean": reference.mean,
            "current_mean": current.mean,
            "reference_std": reference.std,
            "current_std": current.std,
            "reference_median": medians[0],
            "current_median": medians[1],
            **_null_shares(reference, current),
        },
    )


def share_change(reference: ColumnSummary, current: ColumnSummary) -> Effect:
    """The largest change of one category's share, in share points."""
    labels, ref, cur, _ = counts_of(reference, current)
    ref_share, cur_share = ref / ref.sum(), cur / cur.sum()
    change = cur_share - ref_share
    top = int(np.argmax(np.abs(change)))
    known = [i for i, label in enumerate(labels) if label != OTHER]
    new = [labels[i] for i in known if ref[i] == 0 and cur[i] > 0]
    gone = [labels[i] for i in known if cur[i] == 0 and ref[i] > 0]
    return Effect(
        measure="share_change",
        unit="share points",
        size=float(change[top]),
        direction=_direction(float(change[top])),
        category=labels[top],
        details={
            "reference_share": float(ref_share[top]),
            "current_share": float(cur_share[top]),
            "new_categories_share": float(sum(cur_share[labels.index(n)] for n in new)),
            "new_categories": new[:EXAMPLES],
            "vanished_categories": gone[:EXAMPLES],
            **_null_shares(reference, current),
        },
    )
