"""Changes of a bias audit against a reference audit, as structured findings.

``compare_audits(current, reference)`` compares each rate of each group judged in both
audits (same attribute, same group value) and returns a ``Finding`` for every rate that
moved by at least ``relative_change`` of its reference value (and ``absolute_change`` in
absolute terms, to silence tiny rates doubling), largest moves first. A rate that was 0 and
is no longer has no relative change (None) and is always a finding.

``Finding.outside_interval`` says whether the reference value lies outside the current
rate's bootstrap interval (None when the current audit has no intervals): a move inside the
interval may be noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from mloop.core.errors import ValidationError
from mloop.monitoring.fairness.rates import RATES
from mloop.monitoring.fairness.report import BiasAudit
from mloop.monitoring.performance.results import Metric


@dataclasses.dataclass(frozen=True)
class Finding:
    """One group's rate that changed against the reference."""

    attribute: str
    group: Any
    metric: str
    reference_value: float
    current_value: float
    absolute_change: float  # current - reference
    relative_change: float | None  # (current - reference) / reference; None if reference is 0
    outside_interval: bool | None

    @property
    def direction(self) -> str:
        return "up" if self.absolute_change > 0 else "down"

    def describe(self) -> str:
        """One line for an alert, e.g. "selection_rate for region=north down 50% vs reference
        (0.4 -> 0.2)"."""
        group = "/".join(map(str, self.group)) if isinstance(self.group, tuple) else self.group
        size = "from 0" if self.relative_change is None else f"{abs(self.relative_change):.0%}"
        return (
            f"{self.metric} for {self.attribute}={group} {self.direction} {size} vs reference "
            f"({self.reference_value:.3g} -> {self.current_value:.3g})"
        )

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        if isinstance(self.group, tuple):
            body["group"] = list(self.group)
        body["direction"] = self.direction
        body["description"] = self.describe()
        return body


def compare_audits(
    current: BiasAudit,
    reference: BiasAudit,
    *,
    relative_change: float = 0.2,
    absolute_change: float = 0.0,
    metrics: Sequence[str] = RATES,
) -> tuple[Finding, ...]:
    """The rates of ``current`` that moved against ``reference`` by at least the thresholds."""
    _check(current, reference, relative_change, absolute_change, metrics)
    findings: list[Finding] = []
    for audit in current.attributes:
        try:
            before = reference[audit.attribute]
        except KeyError:
            continue  # an attribute the reference did not audit: nothing to compare
        past = {g.group: g for g in before.groups if g.judged}
        for group in audit.groups:
            old = past.get(group.group)
            if not group.judged or old is None:
                continue
            for name in metrics:
                finding = _finding(audit.attribute, group.group, name, group[name], old[name])
                if finding is not None and _moved(finding, relative_change, absolute_change):
                    findings.append(finding)
    return tuple(sorted(findings, key=_size, reverse=True))


def _check(
    current: BiasAudit,
    reference: BiasAudit,
    relative_change: float,
    absolute_change: float,
    metrics: Sequence[str],
) -> None:
    if current.positive_label != reference.positive_label:
        raise ValidationError(
            f"the audits judge different decisions: positive_label {current.positive_label!r} "
            f"now, {reference.positive_label!r} in the reference",
            field="reference",
        )
    if not relative_change >= 0 or not absolute_change >= 0:
        raise ValidationError(
            "relative_change and absolute_change must be non-negative fractions",
            field="relative_change" if not relative_change >= 0 else "absolute_change",
        )
    unknown = [m for m in metrics if m not in RATES]
    if unknown:
        raise ValidationError(
            f"unknown metrics {unknown}: choose among {list(RATES)}", field="metrics"
        )


def _finding(attribute: str, group: Any, name: str, now: Metric, then: Metric) -> Finding | None:
    if now.value is None or then.value is None:
        return None
    change = now.value - then.value
    outside = None
    if now.low is not None and now.high is not None:
        outside = not now.low <= then.value <= now.high
    return Finding(
        attribute=attribute,
        group=group,
        metric=name,
        reference_value=then.value,
        current_value=now.value,
        absolute_change=change,
        relative_change=change / then.value if then.value != 0 else None,
        outside_interval=outside,
    )


def _moved(finding: Finding, relative_change: float, absolute_change: float) -> bool:
    if finding.absolute_change == 0 or abs(finding.absolute_change) < absolute_change:
        return False
    return finding.relative_change is None or abs(finding.relative_change) >= relative_change


def _size(finding: Finding) -> float:
    return math.inf if finding.relative_change is None else abs(finding.relative_change)
