"""Findings against a reference audit: "selection rate for region=north down 50%"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.fairness import BiasAudit, bias_audit, compare_audits
from mloop.monitoring.performance import Bootstrap


def _audit(rates: dict[str, tuple[int, int]], bootstrap: Bootstrap | None = None) -> BiasAudit:
    decisions: list[str] = []
    groups: list[str] = []
    for group, (approved, total) in rates.items():
        decisions += ["approved"] * approved + ["rejected"] * (total - approved)
        groups += [group] * total
    return bias_audit(
        np.array(decisions),
        {"region": np.array(groups)},
        positive_label="approved",
        bootstrap=bootstrap,
    )


def test_a_halved_selection_rate_is_a_finding_with_its_numbers() -> None:
    reference = _audit({"north": (40, 100), "south": (40, 100)})
    current = _audit({"north": (20, 100), "south": (42, 100)})
    findings = compare_audits(current, reference)
    assert len(findings) == 1  # south moved 5%, under the 20% threshold
    finding = findings[0]
    assert (finding.attribute, finding.group, finding.metric) == (
        "region",
        "north",
        "selection_rate",
    )
    assert (finding.reference_value, finding.current_value) == (0.4, 0.2)
    assert finding.relative_change == pytest.approx(-0.5)
    assert finding.absolute_change == pytest.approx(-0.2)
    assert finding.direction == "down"
    assert finding.outside_interval is None  # the current audit has no intervals
    assert finding.describe() == (
        "selection_rate for region=north down 50% vs reference (0.4 -> 0.2)"
    )
    body = finding.to_dict()
    assert json.loads(json.dumps(body)) == body
    assert body["relative_change"] == pytest.approx(-0.5)


def test_thresholds_and_order() -> None:
    reference = _audit({"north": (40, 100), "south": (10, 100), "east": (50, 100)})
    current = _audit({"north": (30, 100), "south": (20, 100), "east": (51, 100)})
    findings = compare_audits(current, reference)
    assert [(f.group, f.direction) for f in findings] == [("south", "up"), ("north", "down")]
    assert compare_audits(current, reference, relative_change=0.5)[0].group == "south"
    assert len(compare_audits(current, reference, relative_change=0.5)) == 1
    # an absolute floor silences a small rate doubling
    assert [f.group for f in compare_audits(current, reference, absolute_change=0.15)] == []


def test_a_rate_that_was_zero_has_no_relative_change_and_comes_first() -> None:
    reference = _audit({"north": (0, 50), "south": (10, 50)})
    current = _audit({"north": (5, 50), "south": (2, 50)})
    findings = compare_audits(current, reference)
    assert [f.group for f in findings] == ["north", "south"]
    assert findings[0].relative_change is None
    assert "up from 0" in findings[0].describe()


def test_groups_too_small_in_either_audit_are_not_compared() -> None:
    reference = _audit({"north": (40, 100), "tiny": (5, 10)})
    current = _audit({"north": (40, 100), "tiny": (0, 10)})
    assert compare_audits(current, reference) == ()


def test_outside_interval_tells_a_real_move_from_noise() -> None:
    reference = _audit({"north": (400, 1000), "south": (400, 1000)})
    current = _audit({"north": (200, 1000), "south": (330, 1000)}, bootstrap=Bootstrap(300, seed=0))
    findings = {f.group: f for f in compare_audits(current, reference, relative_change=0.1)}
    assert findings["north"].outside_interval is True
    assert findings["south"].outside_interval is True  # 0.4 is ~4.7 se from 0.33
    near = _audit({"north": (390, 1000), "south": (400, 1000)}, bootstrap=Bootstrap(300, seed=0))
    moved = compare_audits(near, reference, relative_change=0.0)
    assert [f.outside_interval for f in moved] == [False]


def test_labelled_rates_are_compared_too() -> None:
    rng = np.random.default_rng(0)
    group = np.array(["a"] * 500 + ["b"] * 500)
    y_true = rng.integers(0, 2, 1000)
    honest = bias_audit(y_true, {"g": group}, y_true=y_true)
    biased_pred = np.where(group == "b", 0, y_true)  # b's positives now all rejected
    biased = bias_audit(biased_pred, {"g": group}, y_true=y_true)
    tpr = [f for f in compare_audits(biased, honest) if f.metric == "true_positive_rate"]
    assert [(f.group, f.current_value) for f in tpr] == [("b", 0.0)]
    limited = compare_audits(biased, honest, metrics=["accuracy"])
    assert {f.metric for f in limited} == {"accuracy"}


def test_bad_comparisons() -> None:
    reference = _audit({"north": (40, 100), "south": (40, 100)})
    other_label = bias_audit([0, 1], {"region": ["north", "south"]})
    with pytest.raises(ValidationError, match="judge different decisions") as err:
        compare_audits(other_label, reference)
    assert err.value.field == "reference"
    with pytest.raises(ValidationError, match="unknown metrics"):
        compare_audits(reference, reference, metrics=["approval"])
    with pytest.raises(ValidationError, match="non-negative"):
        compare_audits(reference, reference, relative_change=-0.1)
