"""Reliability bins equal scikit-learn's calibration_curve; ECE is the count-weighted gap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import Bootstrap, calibration_report, classification_metrics


def test_bins_equal_sklearn_calibration_curve_including_edge_values() -> None:
    rng = np.random.default_rng(0)
    proba = np.concatenate([rng.random(500), [0.0, 0.1, 0.2, 0.5, 1.0]])  # edges too
    y_true = (rng.random(len(proba)) < proba**1.5).astype(int)
    report = calibration_report(y_true, proba, n_bins=10)
    observed, predicted = calibration_curve(y_true, proba, n_bins=10)
    filled = [b for b in report.bins if b.count]
    assert [b.observed_rate for b in filled] == pytest.approx(observed, rel=1e-12)
    assert [b.mean_predicted for b in filled] == pytest.approx(predicted, rel=1e-12)
    assert sum(b.count for b in report.bins) == len(proba)
    gaps = [abs(p - o) for p, o in zip(predicted, observed, strict=True)]
    shares = [b.count / len(proba) for b in filled]
    assert report.expected_calibration_error.value == pytest.approx(
        sum(s * g for s, g in zip(shares, gaps, strict=True))
    )
    assert report.maximum_calibration_error == pytest.approx(max(gaps))
    assert report.kind == "positive_class" and report.positive_label == 1


def test_a_calibrated_model_has_small_ece_and_an_overconfident_one_does_not() -> None:
    rng = np.random.default_rng(1)
    proba = rng.random(20000)
    y_true = (rng.random(20000) < proba).astype(int)
    calibrated = calibration_report(y_true, proba).expected_calibration_error.value
    overconfident = calibration_report(y_true, np.clip(1.5 * proba - 0.25, 0, 1))
    assert calibrated is not None and calibrated < 0.02
    assert overconfident.expected_calibration_error.value > 0.05  # type: ignore[operator]


def test_multiclass_uses_top_label_confidence() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    y_true = [0, 0, 2, 0]  # right, wrong, right, right
    report = calibration_report(y_true, proba, classes=[0, 1, 2], n_bins=2)
    assert report.kind == "top_label" and report.positive_label is None
    low, high = report.bins
    assert (low.count, high.count) == (1, 3)  # 0.5 goes to the lower bin
    assert high.observed_rate == pytest.approx(2 / 3)
    assert high.mean_predicted == pytest.approx((0.7 + 0.6 + 0.6) / 3)
    ece = (1 / 4) * abs(0.5 - 1.0) + (3 / 4) * abs(1.9 / 3 - 2 / 3)
    assert report.expected_calibration_error.value == pytest.approx(ece)
    metrics = classification_metrics(y_true, y_proba=proba, classes=[0, 1, 2])
    ten_bins = calibration_report(y_true, proba, classes=[0, 1, 2])
    assert metrics["ece"].value == pytest.approx(ten_bins.expected_calibration_error.value)
    with pytest.raises(ValidationError, match="pass classes in the order of the probability"):
        calibration_report(y_true, proba)  # class 1 is never labelled: classes are ambiguous


def test_missing_labels_and_bootstrap() -> None:
    report = calibration_report(
        [1, None, 0, 1, 0], [0.8, 0.5, 0.3, 0.6, 0.1], bootstrap=Bootstrap(50, seed=2)
    )
    assert (report.n_labelled, report.n_missing_labels) == (4, 1)
    ece = report.expected_calibration_error
    assert ece.low is not None and ece.high is not None and ece.low <= ece.high
    empty_bins = [b for b in report.bins if b.count == 0]
    assert all(b.mean_predicted is None and b.observed_rate is None for b in empty_bins)
