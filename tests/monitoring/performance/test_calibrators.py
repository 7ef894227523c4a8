"""Isotonic calibration equals scikit-learn's; Platt scaling recovers known parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from mloop.core.errors import ValidationError
from mloop.monitoring.performance.calibrators import (
    IdentityCalibrator,
    calibrator_from_dict,
    fit_isotonic,
    fit_sigmoid,
)


@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=80))
def test_isotonic_equals_sklearn(rows: list[tuple[int, bool]]) -> None:
    score = np.array([s for s, _ in rows]) / 30.0  # ties on purpose
    outcome = np.array([o for _, o in rows], dtype=float)
    ours = fit_isotonic(score, outcome)
    theirs = IsotonicRegression(out_of_bounds="clip").fit(score, outcome)
    grid = np.linspace(-0.2, 1.2, 141)
    assert ours(grid) == pytest.approx(theirs.predict(grid), abs=1e-12)
    assert np.all(np.diff(ours(grid)) >= 0)


def test_sigmoid_recovers_the_slope_and_intercept_of_simulated_data() -> None:
    """With 40,000 rows the maximum-likelihood slope and intercept have standard errors of
    about 0.02; 0.1 is five of them."""
    rng = np.random.default_rng(0)
    log_odds = rng.normal(0, 2, 40000)
    score = 1 / (1 + np.exp(-log_odds))
    outcome = (rng.random(40000) < 1 / (1 + np.exp(-(2.0 * log_odds - 0.5)))).astype(float)
    fitted = fit_sigmoid(score, outcome)
    assert fitted.slope == pytest.approx(2.0, abs=0.1)
    assert fitted.intercept == pytest.approx(-0.5, abs=0.1)


def test_sigmoid_stays_finite_on_separable_and_tiny_data() -> None:
    fitted = fit_sigmoid(np.array([0.2, 0.8]), np.array([0.0, 1.0]))
    assert np.isfinite([fitted.slope, fitted.intercept]).all()
    mapped = fitted(np.array([0.0, 0.2, 0.8, 1.0]))
    assert np.all((mapped > 0) & (mapped < 1))
    assert np.all(np.diff(mapped) > 0)


def test_calibrators_round_trip_through_json() -> None:
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.9])
    outcome = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    grid = np.linspace(0, 1, 11)
    for calibrator in (fit_isotonic(score, outcome), fit_sigmoid(score, outcome)):
        body = json.loads(json.dumps(calibrator.to_dict()))
        assert calibrator_from_dict(body)(grid) == pytest.approx(calibrator(grid))
    assert isinstance(calibrator_from_dict({"kind": "none"}), IdentityCalibrator)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "spline"}, "unknown calibrator kind 'spline'"),
        ({"kind": "isotonic", "x": [0.1], "y": []}, "malformed isotonic calibrator"),
        ({"kind": "sigmoid", "slope": 1.0}, "malformed sigmoid calibrator"),
    ],
)
def test_malformed_calibrators(body: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        calibrator_from_dict(body)
