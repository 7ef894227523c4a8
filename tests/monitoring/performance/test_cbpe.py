"""CBPE: estimates before labels track realised metrics under covariate shift, not concept drift.

The simulated model sees x ~ N(mu, 1); the truth is P(y = 1 | x) = sigmoid(2x - 0.5) and the
model reports an overconfident score sigmoid(1.75 (2x - 0.5)), so calibration matters.
Moving mu is covariate shift (the input mix changes, P(y | x) does not); changing the
truth's coefficients is concept drift.

Tolerances come from the sampling error the estimator reports (``std_errors``: the spread
of the realised metric over labels drawn from the calibrated probabilities). The reference
has 100 times the window's rows, so the calibration's own error is a small fraction of a
window's sampling error, and a realised metric further than 4 standard errors from its
estimate (1 in 15,000 for a normal deviate) means the estimator is wrong.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import CBPE, classification_metrics

REFERENCE_ROWS = 200_000
WINDOW_ROWS = 2_000
TOLERANCE_SE = 4.0


def _window(
    rng: np.random.Generator, n: int, mu: float, slope: float = 2.0, intercept: float = -0.5
) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(mu, 1.0, n)
    y_true = (rng.random(n) < 1 / (1 + np.exp(-(slope * x + intercept)))).astype(int)
    score = 1 / (1 + np.exp(-1.75 * (2.0 * x - 0.5)))
    return y_true, score


@pytest.fixture(scope="module")
def estimator() -> CBPE:
    y_true, score = _window(np.random.default_rng(0), REFERENCE_ROWS, mu=0.0)
    return CBPE.fit(y_true, score)


def test_isotonic_calibration_on_a_large_reference(estimator: CBPE) -> None:
    assert estimator.calibration == "isotonic"
    assert estimator.n_reference == REFERENCE_ROWS
    assert estimator.positive_label == 1


@pytest.mark.parametrize("mu", [-1.0, 0.0, 1.0])
def test_estimates_track_realised_metrics_under_covariate_shift(estimator: CBPE, mu: float) -> None:
    y_true, score = _window(np.random.default_rng(int(10 + 10 * mu)), WINDOW_ROWS, mu)
    y_pred = (score >= 0.5).astype(int)
    estimate = estimator.estimate(score, y_pred)
    realised = classification_metrics(y_true, y_pred, score)
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        expected, se = estimate[name].value, estimate.std_errors[name]
        assert expected is not None and se is not None and se > 0
        actual = realised[name].value
        assert actual is not None
        assert abs(expected - actual) <= TOLERANCE_SE * se, (name, expected, actual, se)


def test_the_shift_moves_the_metrics_and_the_estimate_follows(estimator: CBPE) -> None:
    """Not a trivial pass: recall moves between windows by more than the width of both
    windows' tolerances together, so tracking it is no accident."""
    rng = np.random.default_rng(3)
    low_window = _window(rng, WINDOW_ROWS, mu=-1.0)[1]
    high_window = _window(rng, WINDOW_ROWS, mu=1.0)[1]
    low = estimator.estimate(low_window)
    high = estimator.estimate(high_window)
    gap = high["recall"].value - low["recall"].value  # type: ignore[operator]
    se = max(low.std_errors["recall"], high.std_errors["recall"])  # type: ignore[type-var]
    assert gap > 2 * TOLERANCE_SE * se  # type: ignore[operator]


def test_concept_drift_is_invisible_to_the_estimate(estimator: CBPE) -> None:
    """The documented limitation: when P(y | x) changes, the probabilities keep their old
    meaning, the estimate keeps reporting reference-like performance and only the
    realised metrics (on labels) show the collapse."""
    y_true, score = _window(np.random.default_rng(4), WINDOW_ROWS, 0.0, slope=-1.0, intercept=0.5)
    estimate = estimator.estimate(score)
    realised = classification_metrics(y_true, (score >= 0.5).astype(int), score)
    for name in ("accuracy", "roc_auc"):
        gap = estimate[name].value - realised[name].value  # type: ignore[operator]
        assert gap > 10 * TOLERANCE_SE * estimate.std_errors[name]  # type: ignore[operator]


def test_band_covers_the_realised_metric_at_its_confidence() -> None:
    """With truly calibrated probabilities the only error is sampling, so the 95% band
    holds the realised metric in about 95 of 100 windows; 3 binomial standard deviations
    (0.065) below 0.95 is the floor."""
    rng = np.random.default_rng(5)
    truth = CBPE.fit([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.6], calibration="none")
    inside = dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc"), 0)
    windows = 100
    for seed in range(windows):
        x = rng.normal(0.5, 1.0, 1000)
        proba = 1 / (1 + np.exp(-(2.0 * x - 0.5)))
        y_true = (rng.random(1000) < proba).astype(int)
        estimate = truth.estimate(proba, n_simulations=200, seed=seed)
        realised = classification_metrics(y_true, (proba >= 0.5).astype(int), proba)
        for name in inside:
            band = estimate[name]
            inside[name] += band.low <= realised[name].value <= band.high  # type: ignore[operator]
    for name, count in inside.items():
        assert count / windows >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / windows), name


def test_small_reference_falls_back_to_platt_scaling_which_beats_raw_scores() -> None:
    rng = np.random.default_rng(6)
    reference = _window(rng, 300, mu=0.0)
    fitted = CBPE.fit(*reference)
    assert fitted.calibration == "sigmoid"
    trusting = CBPE.fit(*reference, calibration="none")
    y_true, score = _window(rng, WINDOW_ROWS, mu=0.5)
    realised = classification_metrics(y_true, (score >= 0.5).astype(int), score)
    calibrated_gap = abs(fitted.estimate(score)["accuracy"].value - realised["accuracy"].value)  # type: ignore[operator]
    raw_gap = abs(trusting.estimate(score)["accuracy"].value - realised["accuracy"].value)  # type: ignore[operator]
    assert calibrated_gap < raw_gap / 2


def test_multiclass_accuracy_under_covariate_shift() -> None:
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])

    def window(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(0.0, 1.5, (n, 2)) + shift
        logits = -((x[:, None, :] - centres[None]) ** 2).sum(axis=2) / 2
        truth = np.exp(logits - logits.max(axis=1, keepdims=True))
        truth /= truth.sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
        sharp = np.exp(2 * (logits - logits.max(axis=1, keepdims=True)))  # overconfident
        return y, sharp / sharp.sum(axis=1, keepdims=True)

    fitted = CBPE.fit(*window(REFERENCE_ROWS // 2, 0.0), classes=[0, 1, 2])
    assert set(fitted.to_dict()["calibrators"][0]) == {"kind", "x", "y"}
    y_true, proba = window(WINDOW_ROWS, 0.7)
    estimate = fitted.estimate(proba)
    assert set(estimate.metrics) == {"accuracy"}
    realised = classification_metrics(y_true, y_proba=proba, classes=[0, 1, 2])
    se = estimate.std_errors["accuracy"]
    assert se is not None
    assert abs(estimate["accuracy"].value - realised["accuracy"].value) <= TOLERANCE_SE * se  # type: ignore[operator]
    calibrated = fitted.calibrate(proba)
    assert calibrated.sum(axis=1) == pytest.approx(np.ones(WINDOW_ROWS))


def test_estimator_round_trips_through_json(estimator: CBPE) -> None:
    body = json.loads(json.dumps(estimator.to_dict()))
    restored = CBPE.from_dict(body)
    score = _window(np.random.default_rng(8), 500, mu=0.3)[1]
    assert restored.estimate(score).to_dict() == estimator.estimate(score).to_dict()


def test_predictions_default_to_the_threshold_of_one_half(estimator: CBPE) -> None:
    score = _window(np.random.default_rng(9), 500, mu=0.0)[1]
    implicit = estimator.estimate(score, seed=1)
    explicit = estimator.estimate(score, (score > 0.5).astype(int), seed=1)
    assert implicit.to_dict() == explicit.to_dict()


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="needs labelled rows of 1 and of other") as err:
        CBPE.fit([0, 0, 0], [0.1, 0.2, 0.3], classes=[0, 1])
    assert err.value.field == "y_true"
    with pytest.raises(ValidationError, match="at least two classes"):
        CBPE.fit([1, 1], [0.7, 0.8])
    fitted = CBPE.fit([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9])
    with pytest.raises(ValidationError, match=r"not among the classes \[0, 1\]: \[2\]"):
        fitted.estimate([0.2, 0.8], [0, 2])
    with pytest.raises(ValidationError, match=r"outside \[0, 1\]"):
        fitted.estimate([0.2, 1.8])
    with pytest.raises(ValidationError, match="y_proba is empty"):
        fitted.estimate([])
    with pytest.raises(ValidationError, match="n_simulations must be"):
        fitted.estimate([0.2], n_simulations=1)
    with pytest.raises(ValidationError, match="confidence must be between 0 and 1"):
        fitted.estimate([0.2], confidence=95)
    with pytest.raises(ValidationError, match="malformed CBPE estimator") as err:
        CBPE.from_dict({"classes": [0, 1]})
    assert err.value.field == "estimator"
