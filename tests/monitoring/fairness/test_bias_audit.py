"""Bias audits: small groups, the four-fifths rule, labels that arrive late, intervals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.fairness import bias_audit
from mloop.monitoring.performance import Bootstrap


def _decisions(rates: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Groups with (approved, total) counts: decisions 1/0 and the group column."""
    decisions: list[int] = []
    groups: list[str] = []
    for group, (approved, total) in rates.items():
        decisions += [1] * approved + [0] * (total - approved)
        groups += [group] * total
    return np.array(decisions), np.array(groups)


def test_four_fifths_rule_flags_the_groups_selected_under_eighty_percent_of_the_top() -> None:
    y_pred, group = _decisions({"a": (50, 100), "b": (41, 100), "c": (39, 100)})
    audit = bias_audit(y_pred, {"group": group})
    attribute = audit["group"]
    assert attribute.demographic_parity_ratio.value == pytest.approx(0.39 / 0.5)
    assert attribute.demographic_parity_difference.value == pytest.approx(0.11)
    assert attribute.four_fifths_violations == ("c",)  # 0.41 / 0.5 = 0.82 passes
    assert attribute.passes_four_fifths is False


def test_small_groups_are_reported_but_not_judged() -> None:
    y_pred, group = _decisions({"big": (40, 100), "other": (38, 100), "tiny": (0, 5)})
    audit = bias_audit(y_pred, {"group": group}, min_group_size=30)
    attribute = audit["group"]
    tiny = attribute.group("tiny")
    assert (tiny.count, tiny.judged) == (5, False)
    assert tiny["selection_rate"].value == 0.0  # reported
    assert attribute.four_fifths_violations == ()  # but not judged
    assert attribute.passes_four_fifths is True
    assert attribute.demographic_parity_ratio.value == pytest.approx(0.38 / 0.4)
    judged_all = bias_audit(y_pred, {"group": group}, min_group_size=1)["group"]
    assert judged_all.four_fifths_violations == ("tiny",)
    assert judged_all.demographic_parity_ratio.value == 0.0


def test_fewer_than_two_judged_groups_leave_disparities_undefined() -> None:
    y_pred, group = _decisions({"big": (40, 100), "tiny": (1, 3)})
    attribute = bias_audit(y_pred, {"group": group})["group"]
    assert attribute.demographic_parity_difference.value is None
    assert attribute.demographic_parity_difference.reason == (
        "fewer than two groups have at least 30 rows"
    )
    assert attribute.passes_four_fifths is None


def test_nobody_selected_leaves_the_ratio_undefined() -> None:
    y_pred, group = _decisions({"a": (0, 40), "b": (0, 40)})
    attribute = bias_audit(y_pred, {"group": group})["group"]
    assert attribute.demographic_parity_difference.value == 0.0
    assert attribute.demographic_parity_ratio.value is None
    assert attribute.demographic_parity_ratio.reason == "no judged group was selected"


def test_without_labels_only_selection_is_audited() -> None:
    y_pred, group = _decisions({"a": (20, 40), "b": (10, 40)})
    audit = bias_audit(y_pred, {"group": group})
    assert audit.n_labelled == 0 and audit.n_missing_labels == 80
    a = audit["group"].group("a")
    assert a["selection_rate"].value == 0.5
    assert a["accuracy"].value is None
    assert a["accuracy"].reason == "the group has no labelled rows"
    assert audit["group"].equalized_odds_difference.value is None


def test_rows_whose_label_is_missing_count_for_selection_only() -> None:
    y_pred = np.array([1, 1, 0, 0, 1, 0])
    y_true = pd.Series([1, None, 0, None, 0, 1], dtype="Int64")
    group = ["a", "a", "a", "b", "b", "b"]
    audit = bias_audit(y_pred, {"g": group}, y_true=y_true, min_group_size=0)
    a = audit["g"].group("a")
    assert (a.count, a.n_labelled) == (3, 2)
    assert a["selection_rate"].value == pytest.approx(2 / 3)
    assert a["accuracy"].value == 1.0  # rows 0 and 2
    b = audit["g"].group("b")
    assert b["false_positive_rate"].value == 1.0  # row 4: labelled 0, selected
    assert b["true_positive_rate"].value == 0.0  # row 5
    assert audit.n_missing_labels == 2


def test_missing_sensitive_values_form_their_own_group() -> None:
    audit = bias_audit([1, 0, 1, 1], {"region": ["n", None, "s", None]}, min_group_size=0)
    assert [g.group for g in audit["region"].groups] == ["n", "s", None]
    assert audit["region"].group(None).count == 2


def test_a_dataframe_of_sensitive_columns() -> None:
    frame = pd.DataFrame({"region": ["n", "s", "n", "s"], "sex": ["f", "f", "m", "m"]})
    audit = bias_audit([1, 0, 1, 1], frame, min_group_size=0, intersections=True)
    assert [a.attribute for a in audit.attributes] == ["region", "sex", "region & sex"]
    assert audit["region & sex"].group(("s", "m"))["selection_rate"].value == 1.0
    body = audit.to_dict()
    assert json.loads(json.dumps(body)) == body
    assert body["attributes"][2]["groups"][0]["group"] == ["n", "f"]


def test_stratified_bootstrap_intervals() -> None:
    rng = np.random.default_rng(0)
    group = np.array(["a"] * 400 + ["b"] * 200)
    y_true = rng.integers(0, 2, 600)
    y_pred = (rng.random(600) < np.where(group == "a", 0.5, 0.3)).astype(int)
    settings = Bootstrap(n_resamples=400, seed=1)
    audit = bias_audit(y_pred, {"g": group}, y_true=y_true, bootstrap=settings)
    again = bias_audit(y_pred, {"g": group}, y_true=y_true, bootstrap=settings)
    assert audit.to_dict() == again.to_dict()
    attribute = audit["g"]
    for metric in (
        attribute.demographic_parity_difference,
        attribute.demographic_parity_ratio,
        attribute.equalized_odds_difference,
        attribute.group("b")["selection_rate"],
        audit.overall["accuracy"],
    ):
        assert metric.low is not None and metric.high is not None and metric.value is not None
        assert metric.low <= metric.value <= metric.high
    # the selection rate of b (200 rows, p ~ 0.3) has a binomial standard error of ~0.032:
    # its 95% interval is about 4 of them wide; 20% covers the Monte Carlo error of 400 resamples
    b = attribute.group("b")["selection_rate"]
    p = b.value
    assert b.high - b.low == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / 200), rel=0.2)  # type: ignore[operator]


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="positive_label is required") as err:
        bias_audit(["yes", "no"], {"g": ["a", "b"]})
    assert err.value.field == "positive_label"
    with pytest.raises(ValidationError, match="is a str but the decisions") as err:
        bias_audit([0, 1], {"g": ["a", "b"]}, positive_label="1")
    assert err.value.field == "positive_label"
    with pytest.raises(ValidationError, match="mix label types"):
        bias_audit([0, 1], {"g": ["a", "b"]}, y_true=["0", "1"])
    with pytest.raises(ValidationError, match="sensitive must map each attribute") as err:
        bias_audit([0, 1], ["a", "b"])
    assert err.value.field == "sensitive"
    with pytest.raises(
        ValidationError, match=r"sensitive\.region has 1 rows but y_pred has 2"
    ) as err:
        bias_audit([0, 1], {"region": ["a"]})
    assert err.value.field == "sensitive.region"
    with pytest.raises(ValidationError, match="y_pred has missing values"):
        bias_audit([0, None], {"g": ["a", "b"]})
    with pytest.raises(ValidationError, match="min_group_size must be a non-negative integer"):
        bias_audit([0, 1], {"g": ["a", "b"]}, min_group_size=-1)
