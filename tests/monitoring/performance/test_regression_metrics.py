"""Regressor metrics equal scikit-learn's; zero and missing targets are skipped and counted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from mloop.monitoring.performance import Bootstrap, regression_metrics

_value = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@given(st.lists(st.tuples(_value, _value), min_size=2, max_size=50))
def test_metrics_equal_sklearn(rows: list[tuple[float, float]]) -> None:
    y_true = np.array([t for t, _ in rows])
    y_pred = np.array([p for _, p in rows])
    report = regression_metrics(y_true, y_pred)
    assert report["mae"].value == pytest.approx(skm.mean_absolute_error(y_true, y_pred), rel=1e-9)
    assert report["rmse"].value == pytest.approx(
        skm.root_mean_squared_error(y_true, y_pred), rel=1e-9
    )
    assert report["mape"].value == pytest.approx(
        skm.mean_absolute_percentage_error(y_true, y_pred), rel=1e-9
    )
    if np.ptp(y_true) > 0:
        assert report["r2"].value == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-7, abs=1e-9)
    else:
        assert report["r2"].value is None


def test_zero_targets_are_skipped_by_mape_and_counted() -> None:
    y_true = np.array([0.0, 10.0, 0.0, 20.0])
    y_pred = np.array([5.0, 11.0, -1.0, 18.0])
    report = regression_metrics(y_true, y_pred)
    assert report.n_zero_targets == 2
    assert report["mape"].value == pytest.approx((0.1 + 0.1) / 2)
    # the other metrics use every labelled row
    assert report["mae"].value == pytest.approx((5 + 1 + 1 + 2) / 4)


def test_mape_is_undefined_when_every_target_is_zero() -> None:
    report = regression_metrics([0.0, 0.0], [1.0, 2.0])
    assert report["mape"].value is None
    assert report["mape"].reason == "every target is 0, so no percentage error is defined"
    assert report["r2"].value is None
    assert report["r2"].reason == "R2 needs at least two rows whose targets differ"


def test_constant_targets_leave_r2_undefined_despite_rounding() -> None:
    report = regression_metrics([0.1] * 7, [0.1, 0.2, 0.0, 0.1, 0.1, 0.3, 0.1])
    assert report["r2"].value is None


def test_missing_targets_are_left_out_and_counted() -> None:
    report = regression_metrics([1.0, None, 3.0, float("nan")], [1.5, 2.0, 2.0, 9.0])
    assert (report.n_rows, report.n_labelled, report.n_missing_labels) == (4, 2, 2)
    assert report["mae"].value == pytest.approx(0.75)
    empty = regression_metrics([None, None], [1.0, 2.0])
    assert empty["rmse"].value is None
    assert empty["rmse"].reason == "no labelled rows yet (2 rows await labels)"


def test_bootstrap_interval_matches_the_normal_approximation_for_a_mean() -> None:
    """MAE is a mean of |errors|: its bootstrap interval is close to mean +/- 1.96 se. With
    2,000 resamples the interval's ends carry about 3% Monte Carlo error, hence 10%."""
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=4000)
    y_pred = y_true + rng.normal(size=4000)
    report = regression_metrics(y_true, y_pred, bootstrap=Bootstrap(2000, seed=1))
    errors = np.abs(y_pred - y_true)
    half_width = 1.96 * errors.std(ddof=1) / np.sqrt(len(errors))
    mae = report["mae"]
    assert mae.low is not None and mae.high is not None
    assert (mae.high - mae.low) / 2 == pytest.approx(half_width, rel=0.1)
    assert mae.low < errors.mean() < mae.high
