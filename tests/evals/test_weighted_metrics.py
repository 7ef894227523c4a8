"""The bootstrap's fast paths: exactly a straightforward reference for the same weights, and
scikit-learn's metric of the resampled rows."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from mloop.core.errors import ValidationError
from mloop.evals.confusion import Confusion
from mloop.evals.metrics import Outputs, metric_function
from mloop.evals.names import parse_metric
from mloop.evals.ranking import query_values
from mloop.evals.resampling import resample_counts
from mloop.evals.rocauc import RocAuc


def _counts(n: int, resamples: int = 12, seed: int = 3) -> np.ndarray:
    return np.concatenate(list(resample_counts(n, resamples, seed)))


def _auc_by_pairs(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> float:
    """Every (positive, negative) pair, in exact integer arithmetic, rounded once."""
    pos = [(s, int(w)) for s, p, w in zip(scores, positive, weights, strict=True) if p and w]
    neg = [(s, int(w)) for s, p, w in zip(scores, positive, weights, strict=True) if not p and w]
    if not pos or not neg:
        return float("nan")
    twice = sum(
        wp * wn * (2 if sp > sn else 1 if sp == sn else 0) for sp, wp in pos for sn, wn in neg
    )
    pairs = sum(w for _, w in pos) * sum(w for _, w in neg)
    return float(Fraction(twice, 2 * pairs))


@pytest.mark.parametrize("decimals", [None, 1])  # distinct scores; many ties across classes
def test_roc_auc_equals_the_pairwise_count_exactly(decimals: int | None) -> None:
    rng = np.random.default_rng(0)
    positive = rng.random(150) < 0.4
    scores = rng.random(150) + 0.3 * positive
    if decimals is not None:
        scores = np.round(scores, decimals)
    weights = np.vstack([np.ones(150), _counts(150), (rng.random(150) < 0.5).astype(float)])
    got = RocAuc(scores, positive)(weights)
    want = [_auc_by_pairs(scores, positive, w) for w in weights]
    assert got.tolist() == want  # exact, not approximately
    assert got[0] == pytest.approx(skm.roc_auc_score(positive, scores), rel=1e-12)


def test_roc_auc_of_resampled_rows_is_scikit_learns() -> None:
    rng = np.random.default_rng(1)
    positive = rng.random(300) < 0.3
    scores = np.round(rng.random(300) + 0.4 * positive, 2)
    counts = _counts(300)
    got = RocAuc(scores, positive)(counts)
    for row, value in zip(counts, got, strict=True):
        rows = np.repeat(np.arange(300), row.astype(int))
        assert value == pytest.approx(skm.roc_auc_score(positive[rows], scores[rows]), rel=1e-12)


def test_roc_auc_is_nan_where_a_class_weighs_nothing() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    positive = np.array([False, False, True, True])
    weights = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    assert np.isnan(RocAuc(scores, positive)(weights)[:2]).all()
    assert RocAuc(scores, positive)(weights)[2] == 1.0
    assert np.isnan(RocAuc(scores, np.zeros(4, dtype=bool))(np.ones((1, 4))))[0]


def test_roc_auc_refuses_scores_that_are_not_finite() -> None:
    with pytest.raises(ValidationError) as error:
        RocAuc(np.array([0.2, np.nan]), np.array([True, False]))
    assert error.value.field == "metrics"


def test_confusion_matrices_equal_adding_each_rows_weight() -> None:
    rng = np.random.default_rng(4)
    truth, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    pred[pred == 2] = 3  # a class never predicted: an empty column
    weights = np.vstack([np.ones(200), _counts(200), rng.random(200)])
    got = Confusion(truth, pred, 4)(weights)
    for w, matrix in zip(weights, got, strict=True):
        want = np.zeros((4, 4))
        np.add.at(want, (truth, pred), w)
        np.testing.assert_allclose(matrix, want, rtol=1e-12)
    np.testing.assert_array_equal(
        got[1], skm.confusion_matrix(truth, pred, sample_weight=weights[1])
    )
    empty = Confusion(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), 2)
    assert empty(np.empty((3, 0))).shape == (3, 2, 2)


def _classes(k: int, n: int = 400) -> Outputs:
    rng = np.random.default_rng(k)
    truth = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), truth] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    return Outputs(
        "classification",
        truth,
        proba.argmax(axis=1),
        labels=np.arange(k),
        proba=proba,
        positive=1 if k == 2 else None,
    )


def _sklearn(name: str, out: Outputs, rows: np.ndarray) -> float:
    assert out.proba is not None
    truth, pred, proba = out.truth[rows], out.predicted[rows], out.proba[rows]
    k = out.proba.shape[1]
    average = "binary" if k == 2 else "macro"
    if name == "roc_auc":
        if k == 2:
            return float(skm.roc_auc_score(truth, proba[:, 1]))
        return float(skm.roc_auc_score(truth, proba, multi_class="ovr"))
    if name == "log_loss":
        return float(skm.log_loss(truth, proba, labels=np.arange(k)))
    if name in ("precision", "recall", "f1"):
        scorer = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
        return float(scorer[name](truth, pred, average=average, zero_division=0))
    return float(
        {"accuracy": skm.accuracy_score, "balanced_accuracy": skm.balanced_accuracy_score}[name](
            truth, pred
        )
    )


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(
    "name", ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]
)
def test_each_resample_scores_what_scikit_learn_gives_its_rows(k: int, name: str) -> None:
    out = _classes(k)
    counts = _counts(out.n_rows, resamples=6)
    got = metric_function(parse_metric(name, "classification", [], "m"), out)(counts)
    for row, value in zip(counts, got, strict=True):
        rows = np.repeat(np.arange(out.n_rows), row.astype(int))
        assert value == pytest.approx(_sklearn(name, out, rows), rel=1e-9), name


def test_regression_resamples_score_what_scikit_learn_gives_their_rows() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(size=250)
    out = Outputs("regression", y, y + rng.normal(scale=0.4, size=250))
    counts = _counts(250, resamples=6)
    sklearn = {
        "rmse": skm.root_mean_squared_error,
        "mae": skm.mean_absolute_error,
        "r2": skm.r2_score,
    }
    for name, function in sklearn.items():
        got = metric_function(parse_metric(name, "regression", [], "m"), out)(counts)
        for row, value in zip(counts, got, strict=True):
            rows = np.repeat(np.arange(250), row.astype(int))
            assert value == pytest.approx(function(out.truth[rows], out.predicted[rows])), name


def test_ranking_resamples_average_the_drawn_queries() -> None:
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(20), 8)
    out = Outputs("ranking", rng.integers(0, 3, 160).astype(float), rng.random(160), group=groups)
    per_query = query_values("ndcg", 5, out.truth, out.predicted, groups)
    counts = _counts(20, resamples=6)
    got = metric_function(parse_metric("ndcg@5", "ranking", [], "m"), out)(counts)
    for row, value in zip(counts, got, strict=True):
        assert value == pytest.approx(np.repeat(per_query, row.astype(int)).mean())


_ROWS = st.lists(
    st.tuples(st.integers(0, 6), st.booleans(), st.integers(0, 3)), min_size=1, max_size=40
)


@given(_ROWS)
def test_roc_auc_equals_the_pairwise_count_for_any_rows(rows: list[tuple[int, bool, int]]) -> None:
    # Scores from a few values, so ties within and across classes are common.
    scores = np.array([r[0] / 6 for r in rows])
    positive = np.array([r[1] for r in rows])
    weights = np.array([[float(r[2]) for r in rows], [1.0] * len(rows)])
    got = RocAuc(scores, positive)(weights)
    want = [_auc_by_pairs(scores, positive, w) for w in weights]
    np.testing.assert_array_equal(got, want)  # NaN where a class weighs nothing, both sides


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_confusion_equals_adding_each_rows_weight_for_any_rows(
    rows: list[tuple[int, int, int]],
) -> None:
    truth = np.array([r[0] for r in rows], dtype=np.int64)
    pred = np.array([r[1] for r in rows], dtype=np.int64)
    weights = np.array([[float(r[2]) for r in rows]])
    want = np.zeros((4, 4))
    np.add.at(want, (truth, pred), weights[0])
    np.testing.assert_array_equal(Confusion(truth, pred, 4)(weights)[0], want)
