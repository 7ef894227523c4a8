"""Classifier metrics equal scikit-learn's, and windows scikit-learn rejects still report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from mloop.monitoring.performance import Bootstrap, classification_metrics


def _close(ours: float | None, theirs: float) -> None:
    assert ours is not None
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12)


def _binary(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    proba = rng.random(n)
    y_true = (rng.random(n) < proba).astype(int)
    return y_true, (proba >= 0.5).astype(int), proba


@pytest.mark.parametrize("seed", range(3))
def test_binary_metrics_equal_sklearn(seed: int) -> None:
    y_true, y_pred, proba = _binary(seed, 400)
    report = classification_metrics(y_true, y_pred, proba)
    _close(report["accuracy"].value, skm.accuracy_score(y_true, y_pred))
    _close(report["precision"].value, skm.precision_score(y_true, y_pred))
    _close(report["recall"].value, skm.recall_score(y_true, y_pred))
    _close(report["f1"].value, skm.f1_score(y_true, y_pred))
    _close(report["roc_auc"].value, skm.roc_auc_score(y_true, proba))
    _close(report["log_loss"].value, skm.log_loss(y_true, proba))
    _close(report["brier"].value, skm.brier_score_loss(y_true, proba))
    assert report.positive_label == 1
    assert report.average == "binary"


def test_string_labels_with_a_chosen_positive_label() -> None:
    y_true, y_pred, proba = _binary(7, 300)
    names = np.array(["reject", "approve"])
    true_s, pred_s = names[y_true], names[y_pred]
    # P(approve) is proba; classes sort as ("approve", "reject"), so the matrix is [p, 1-p].
    matrix = np.column_stack([proba, 1 - proba])
    report = classification_metrics(true_s, pred_s, matrix, positive_label="approve")
    assert report.classes == ("approve", "reject")
    _close(report["precision"].value, skm.precision_score(true_s, pred_s, pos_label="approve"))
    _close(report["recall"].value, skm.recall_score(true_s, pred_s, pos_label="approve"))
    _close(report["roc_auc"].value, skm.roc_auc_score(y_true, proba))
    _close(report["brier"].value, skm.brier_score_loss(y_true, proba))
    # the one-column form means the positive class's probability
    one_column = classification_metrics(true_s, pred_s, proba, positive_label="approve")
    assert one_column.to_dict() == report.to_dict()


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_metrics_equal_sklearn(average: str) -> None:
    rng = np.random.default_rng(3)
    proba = rng.dirichlet([1.0, 2.0, 3.0, 1.0], size=500)
    y_true = np.array([rng.choice(4, p=row) for row in proba])
    y_pred = proba.argmax(axis=1)
    report = classification_metrics(y_true, y_pred, proba, average=average)  # type: ignore[arg-type]
    _close(report["accuracy"].value, skm.accuracy_score(y_true, y_pred))
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        _close(report[name].value, fn(y_true, y_pred, average=average))
    _close(
        report["roc_auc"].value,
        skm.roc_auc_score(y_true, proba, multi_class="ovr", average=average),
    )
    _close(report["log_loss"].value, skm.log_loss(y_true, proba))
    _close(report["brier"].value, skm.brier_score_loss(y_true, proba, labels=[0, 1, 2, 3]))
    per_class = skm.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2, 3])
    for k, cls in enumerate(report.per_class):
        _close(cls.precision.value, per_class[0][k])
        _close(cls.recall.value, per_class[1][k])
        _close(cls.f1.value, per_class[2][k])
        assert cls.support == per_class[3][k]


_label = st.integers(min_value=0, max_value=2)


@given(
    st.lists(st.tuples(_label, _label), min_size=1, max_size=60),
    st.sampled_from(["macro", "weighted"]),
)
def test_precision_recall_f1_equal_sklearn_on_any_labels(
    pairs: list[tuple[int, int]], average: str
) -> None:
    """Classes absent from a window or never predicted are left out of the average, as
    scikit-learn does with zero_division=nan."""
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    report = classification_metrics(y_true, y_pred, classes=[0, 1, 2], average=average)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=[0, 1, 2], average=average, zero_division=np.nan
        )
    for name, theirs in zip(("precision", "recall", "f1"), expected[:3], strict=True):
        ours = report[name].value
        if np.isnan(theirs):
            assert ours is None and report[name].reason
        else:
            _close(ours, theirs)
    _close(report["accuracy"].value, skm.accuracy_score(y_true, y_pred))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=2, max_size=80))
def test_roc_auc_equals_sklearn_with_ties(rows: list[tuple[bool, int]]) -> None:
    y_true = np.array([t for t, _ in rows], dtype=int)
    score = np.array([s for _, s in rows]) / 20.0  # few distinct values: many ties
    report = classification_metrics(y_true, (score >= 0.5).astype(int), score, classes=[0, 1])
    if len(set(y_true.tolist())) < 2:
        assert report["roc_auc"].value is None
        assert "ROC AUC needs labelled rows of two classes" in (report["roc_auc"].reason or "")
    else:
        _close(report["roc_auc"].value, skm.roc_auc_score(y_true, score))


def test_rows_without_labels_are_left_out_and_counted() -> None:
    y_true = np.array([1.0, np.nan, 0.0, 1.0, np.nan, 0.0])
    y_pred = np.array([1, 1, 0, 0, 0, 1])
    proba = np.array([0.9, 0.8, 0.3, 0.4, 0.2, 0.6])
    report = classification_metrics(y_true, y_pred, proba)
    labelled = ~np.isnan(y_true)
    assert (report.n_rows, report.n_labelled, report.n_missing_labels) == (6, 4, 2)
    _close(report["accuracy"].value, skm.accuracy_score(y_true[labelled], y_pred[labelled]))
    _close(report["roc_auc"].value, skm.roc_auc_score(y_true[labelled], proba[labelled]))


def test_a_window_before_any_label_arrives_reports_why_not_a_crash() -> None:
    report = classification_metrics([None, None], [0, 1], [0.2, 0.7])
    assert report.n_labelled == 0 and report.n_missing_labels == 2
    for metric in report.metrics.values():
        assert metric.value is None
        assert metric.reason == "no labelled rows yet (2 rows await labels)"


def test_single_class_window() -> None:
    report = classification_metrics([1, 1, 1], [1, 0, 1], [0.9, 0.4, 0.8], classes=[0, 1])
    assert report["roc_auc"].value is None
    assert report["roc_auc"].reason == (
        "every labelled row is 1; ROC AUC needs labelled rows of two classes"
    )
    assert report["recall"].value == pytest.approx(2 / 3)
    assert report["precision"].value == 1.0
    # the negative class was predicted once but never labelled
    negative = report.per_class[0]
    assert negative.recall.value is None and negative.recall.reason == "no labelled row is 0"
    assert negative.precision.value == 0.0


def test_nothing_predicted_positive_leaves_precision_undefined() -> None:
    report = classification_metrics([0, 1, 1], [0, 0, 0], classes=[0, 1])
    assert report["precision"].value is None
    assert report["precision"].reason == "no row was predicted 1"
    assert report["recall"].value == 0.0
    assert report["f1"].value == 0.0
    assert report["roc_auc"].reason == "needs predicted probabilities (y_proba)"


def test_a_window_that_saw_one_class_stays_binary_with_positive_label() -> None:
    report = classification_metrics([0, 0], [0, 0], [0.1, 0.2], positive_label=1)
    assert report.classes == (0, 1)
    assert report.positive_label == 1
    assert report["brier"].value == pytest.approx((0.01 + 0.04) / 2)


def test_predictions_default_to_the_most_probable_class() -> None:
    proba = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    report = classification_metrics([0, 1, 0], y_proba=proba)
    assert report["accuracy"].value == 1.0  # the tie goes to the first class


def test_bootstrap_intervals_bracket_the_value_and_repeat_with_the_seed() -> None:
    y_true, y_pred, proba = _binary(11, 600)
    first = classification_metrics(y_true, y_pred, proba, bootstrap=Bootstrap(300, seed=5))
    again = classification_metrics(y_true, y_pred, proba, bootstrap=Bootstrap(300, seed=5))
    other = classification_metrics(y_true, y_pred, proba, bootstrap=Bootstrap(300, seed=6))
    assert first.to_dict() == again.to_dict()
    assert first.to_dict() != other.to_dict()
    for metric in first.metrics.values():
        assert metric.low is not None and metric.high is not None and metric.value is not None
        assert metric.low <= metric.value <= metric.high
    for cls in first.per_class:
        assert cls.f1.low is not None and cls.f1.low <= cls.f1.value <= cls.f1.high  # type: ignore[operator]


def test_report_is_json_ready() -> None:
    import json

    y_true, y_pred, proba = _binary(2, 50)
    body = classification_metrics(y_true, y_pred, proba, bootstrap=Bootstrap(20)).to_dict()
    assert json.loads(json.dumps(body)) == body
    assert set(body["metrics"]) == {
        "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "ece"
    }  # fmt: skip
