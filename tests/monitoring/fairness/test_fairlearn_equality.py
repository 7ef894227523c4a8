"""Bias-audit values equal fairlearn.metrics on the same data."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score

from mloop.monitoring.fairness import RATES, bias_audit

FAIRLEARN_METRICS = {
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
}


def _close(ours: float | None, theirs: float) -> None:
    assert ours is not None
    assert ours == pytest.approx(float(theirs), rel=1e-12, abs=1e-12)


def _data(seed: int, n: int, groups: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(groups, n)
    base = {g: 0.2 + 0.5 * i / len(groups) for i, g in enumerate(groups)}
    y_true = (rng.random(n) < 0.4).astype(int)
    approve = np.array([base[g] for g in group]) + 0.3 * y_true
    y_pred = (rng.random(n) < approve).astype(int)
    return y_true, y_pred, group


@pytest.mark.parametrize(("seed", "groups"), [(0, ["a", "b"]), (1, ["x", "y", "z", "w"])])
def test_group_rates_and_disparities_equal_fairlearn(seed: int, groups: list[str]) -> None:
    y_true, y_pred, group = _data(seed, 3000, groups)
    audit = bias_audit(y_pred, {"group": group}, y_true=y_true, min_group_size=0)
    frame = MetricFrame(
        metrics=FAIRLEARN_METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=group
    )
    attribute = audit["group"]
    assert [g.group for g in attribute.groups] == sorted(groups)
    for ours in attribute.groups:
        assert ours.count == int((group == ours.group).sum())
        for rate in RATES:
            _close(ours[rate].value, frame.by_group.loc[ours.group, rate])
    for rate in RATES:
        _close(audit.overall[rate].value, frame.overall[rate])
    _close(
        attribute.demographic_parity_difference.value,
        demographic_parity_difference(y_true, y_pred, sensitive_features=group),
    )
    _close(
        attribute.demographic_parity_ratio.value,
        demographic_parity_ratio(y_true, y_pred, sensitive_features=group),
    )
    _close(
        attribute.equalized_odds_difference.value,
        equalized_odds_difference(y_true, y_pred, sensitive_features=group),
    )


def test_string_decisions_with_a_positive_label_equal_fairlearn() -> None:
    y_true, y_pred, group = _data(2, 1000, ["north", "south", "east"])
    names = np.array(["rejected", "approved"])
    audit = bias_audit(
        names[y_pred],
        {"region": group},
        y_true=names[y_true],
        positive_label="approved",
        min_group_size=0,
    )
    rate = functools.update_wrapper(
        functools.partial(selection_rate, pos_label="approved"), selection_rate
    )
    frame = MetricFrame(
        metrics=rate, y_true=names[y_true], y_pred=names[y_pred], sensitive_features=group
    )
    for ours in audit["region"].groups:
        _close(ours["selection_rate"].value, frame.by_group.loc[ours.group])
    _close(
        audit["region"].equalized_odds_difference.value,
        equalized_odds_difference(y_true, y_pred, sensitive_features=group),
    )


def test_intersections_equal_fairlearn_on_both_columns() -> None:
    rng = np.random.default_rng(33)  # not _data's seed: its stream would pick region too
    y_true, y_pred, region = _data(3, 2000, ["north", "south"])
    age = rng.choice(["<30", "30-60", ">60"], len(region))
    audit = bias_audit(
        y_pred, {"region": region, "age": age}, y_true=y_true, intersections=True, min_group_size=0
    )
    assert [a.attribute for a in audit.attributes] == ["region", "age", "region & age"]
    both = pd.DataFrame({"region": region, "age": age})
    frame = MetricFrame(
        metrics=FAIRLEARN_METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=both
    )
    crossed = audit["region & age"]
    assert len(crossed.groups) == 6
    for ours in crossed.groups:
        for rate in RATES:
            _close(ours[rate].value, frame.by_group.loc[ours.group, rate])
    _close(
        crossed.demographic_parity_difference.value,
        demographic_parity_difference(y_true, y_pred, sensitive_features=both),
    )
    _close(
        crossed.equalized_odds_difference.value,
        equalized_odds_difference(y_true, y_pred, sensitive_features=both),
    )


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from(["a", "b", "c"])),
        min_size=2,
        max_size=60,
    )
)
def test_any_data_equals_fairlearn_where_fairlearn_divides_by_something(
    rows: list[tuple[bool, bool, str]],
) -> None:
    y_true = np.array([r[0] for r in rows], dtype=int)
    y_pred = np.array([r[1] for r in rows], dtype=int)
    group = np.array([r[2] for r in rows])
    audit = bias_audit(y_pred, {"g": group}, y_true=y_true, min_group_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics=FAIRLEARN_METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=group
        )
        dp_ratio = demographic_parity_ratio(y_true, y_pred, sensitive_features=group)
        eo = equalized_odds_difference(y_true, y_pred, sensitive_features=group)
    attribute = audit["g"]
    denominators = {
        "selection_rate": lambda m: m,
        "accuracy": lambda m: m,
        "true_positive_rate": lambda m: m & (y_true == 1),
        "false_positive_rate": lambda m: m & (y_true == 0),
        "false_negative_rate": lambda m: m & (y_true == 1),
    }
    for ours in attribute.groups:
        members = group == ours.group
        for rate in RATES:
            if denominators[rate](members).any():
                _close(ours[rate].value, frame.by_group.loc[ours.group, rate])
            else:  # fairlearn reports 0 here; the rate is undefined
                assert ours[rate].value is None and ours[rate].reason
    if len(attribute.groups) < 2:
        assert attribute.demographic_parity_difference.value is None
    else:
        _close(
            attribute.demographic_parity_difference.value,
            demographic_parity_difference(y_true, y_pred, sensitive_features=group),
        )
        if np.isnan(dp_ratio):
            assert attribute.demographic_parity_ratio.value is None
        else:
            _close(attribute.demographic_parity_ratio.value, dp_ratio)
    both_outcomes = all({0, 1} <= set(y_true[group == g.group].tolist()) for g in attribute.groups)
    if both_outcomes and len(attribute.groups) >= 2:
        _close(attribute.equalized_odds_difference.value, eo)
