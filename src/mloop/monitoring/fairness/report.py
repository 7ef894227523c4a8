"""The records of a bias audit: per group, per attribute, per window (all JSON-ready).

``BiasAudit[attribute]`` is an ``AttributeAudit``; ``AttributeAudit.group(value)`` a
``GroupMetrics``; ``GroupMetrics[rate]`` a ``Metric``. See ``audit`` for the definitions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mloop.monitoring.performance.results import Metric


@dataclasses.dataclass(frozen=True)
class GroupMetrics:
    """One group's size and rates; ``judged`` says whether it counts in the disparities."""

    group: Any
    count: int
    n_labelled: int
    judged: bool
    rates: dict[str, Metric]

    def __getitem__(self, rate: str) -> Metric:
        return self.rates[rate]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": list(self.group) if isinstance(self.group, tuple) else self.group,
            "count": self.count,
            "n_labelled": self.n_labelled,
            "judged": self.judged,
            "rates": {name: m.to_dict() for name, m in self.rates.items()},
        }


@dataclasses.dataclass(frozen=True)
class AttributeAudit:
    """The groups of one sensitive attribute (or combination) and their disparities."""

    attribute: str  # the column name, or "a & b" for an intersection
    groups: tuple[GroupMetrics, ...]
    demographic_parity_difference: Metric
    demographic_parity_ratio: Metric
    equalized_odds_difference: Metric
    four_fifths_violations: tuple[Any, ...]

    @property
    def passes_four_fifths(self) -> bool | None:
        """False when some judged group is selected at under 0.8 times the highest rate;
        None when the ratio is undefined."""
        if self.demographic_parity_ratio.value is None:
            return None
        return not self.four_fifths_violations

    def group(self, label: Any) -> GroupMetrics:
        for group in self.groups:
            if group.group == label:
                return group
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "groups": [g.to_dict() for g in self.groups],
            "demographic_parity_difference": self.demographic_parity_difference.to_dict(),
            "demographic_parity_ratio": self.demographic_parity_ratio.to_dict(),
            "equalized_odds_difference": self.equalized_odds_difference.to_dict(),
            "four_fifths_violations": [
                list(g) if isinstance(g, tuple) else g for g in self.four_fifths_violations
            ],
            "passes_four_fifths": self.passes_four_fifths,
        }


@dataclasses.dataclass(frozen=True)
class BiasAudit:
    """A window's bias audit: overall rates and one ``AttributeAudit`` per attribute."""

    positive_label: Any
    min_group_size: int
    n_rows: int
    n_labelled: int
    overall: GroupMetrics
    attributes: tuple[AttributeAudit, ...]

    @property
    def n_missing_labels(self) -> int:
        return self.n_rows - self.n_labelled

    def __getitem__(self, attribute: str) -> AttributeAudit:
        for audit in self.attributes:
            if audit.attribute == attribute:
                return audit
        raise KeyError(attribute)

    def to_dict(self) -> dict[str, Any]:
        return {
            "positive_label": self.positive_label,
            "min_group_size": self.min_group_size,
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "n_missing_labels": self.n_missing_labels,
            "overall": self.overall.to_dict(),
            "attributes": [a.to_dict() for a in self.attributes],
        }
