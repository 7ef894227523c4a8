"""Suite metrics equal scikit-learn's; the paired tests are deterministic and vectorised."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn import metrics as skm

from mloop.evals.comparison import mcnemar, paired_bootstrap
from mloop.evals.metrics import Outputs, weighted
from mloop.evals.names import parse_metric
from mloop.evals.ranking import query_values


def _value(name: str, out: Outputs, task: str) -> float:
    return float(weighted(parse_metric(name, task, [], "m"), out, np.ones((1, out.n_rows)))[0])


def _classes(k: int, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), truth] += 0.3  # better than chance
    proba /= proba.sum(axis=1, keepdims=True)
    return truth, proba.argmax(axis=1), proba


@pytest.mark.parametrize("k", [2, 3])
def test_classification_metrics_equal_scikit_learn(k: int) -> None:
    truth, pred, proba = _classes(k)
    out = Outputs(
        "classification",
        truth,
        pred,
        labels=np.arange(k),
        proba=proba,
        positive=1 if k == 2 else None,
    )
    average = "binary" if k == 2 else "macro"
    expected = {
        "accuracy": skm.accuracy_score(truth, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(truth, pred),
        "precision": skm.precision_score(truth, pred, average=average),
        "recall": skm.recall_score(truth, pred, average=average),
        "f1": skm.f1_score(truth, pred, average=average),
        "log_loss": skm.log_loss(truth, proba),
        "roc_auc": (
            skm.roc_auc_score(truth, proba[:, 1])
            if k == 2
            else skm.roc_auc_score(truth, proba, multi_class="ovr")
        ),
    }
    for name, value in expected.items():
        assert _value(name, out, "classification") == pytest.approx(value, rel=1e-9), name


def test_regression_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    yhat = y + rng.normal(scale=0.5, size=300)
    out = Outputs("regression", y, yhat)
    assert _value("rmse", out, "regression") == pytest.approx(skm.root_mean_squared_error(y, yhat))
    assert _value("mae", out, "regression") == pytest.approx(skm.mean_absolute_error(y, yhat))
    assert _value("r2", out, "regression") == pytest.approx(skm.r2_score(y, yhat))
    constant = Outputs("regression", np.ones(4), np.ones(4))
    assert _value("r2", constant, "regression") == skm.r2_score(np.ones(4), np.ones(4)) == 1.0


def test_ranking_metrics_equal_scikit_learn_per_query() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(6), 10)
    rel = rng.integers(0, 3, 60).astype(float)
    scores = rng.random(60)
    for k in (3, None):
        got = query_values("ndcg", k, rel, scores, groups)
        want = [skm.ndcg_score([rel[groups == q]], [scores[groups == q]], k=k) for q in range(6)]
        assert got == pytest.approx(want)
    got = query_values("map", None, rel, scores, groups)
    want = [
        skm.average_precision_score(rel[groups == q] > 0, scores[groups == q]) for q in range(6)
    ]
    assert got == pytest.approx(want)
    first = [
        1 / (1 + int(np.flatnonzero(rel[groups == q][np.argsort(-scores[groups == q])] > 0)[0]))
        for q in range(6)
    ]
    assert query_values("mrr", None, rel, scores, groups) == pytest.approx(first)
    top3 = [np.mean(rel[groups == q][np.argsort(-scores[groups == q])][:3] > 0) for q in range(6)]
    assert query_values("precision", 3, rel, scores, groups) == pytest.approx(top3)


def test_weighted_rows_equal_the_metric_of_the_resampled_rows() -> None:
    truth, pred, proba = _classes(2, n=50)
    out = Outputs("classification", truth, pred, labels=np.arange(2), proba=proba, positive=1)
    rows = np.random.default_rng(1).integers(0, 50, 50)
    weights = np.bincount(rows, minlength=50)[None, :].astype(float)
    auc = weighted(parse_metric("roc_auc", "classification", [], "m"), out, weights)[0]
    assert auc == pytest.approx(skm.roc_auc_score(truth[rows], proba[rows, 1]))


def test_paired_bootstrap_is_deterministic_and_brackets_the_difference() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.8).astype(float)
    b = (rng.random(2000) < 0.7).astype(float)

    def mean(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda w: (w @ values) / w.sum(axis=1)

    first = paired_bootstrap(
        mean(a), mean(b), 2000, higher_is_better=True, resamples=300, confidence=0.95, seed=7
    )
    again = paired_bootstrap(
        mean(a), mean(b), 2000, higher_is_better=True, resamples=300, confidence=0.95, seed=7
    )
    assert (first.low, first.high) == (again.low, again.high)
    assert first.low is not None and first.high is not None
    assert first.low < a.mean() - b.mean() < first.high
    assert first.beats(0.0, 0.95) and not first.beats(0.2, 0.95)
    lower = paired_bootstrap(
        mean(a), mean(b), 2000, higher_is_better=False, resamples=300, confidence=0.95, seed=7
    )
    assert lower.difference == pytest.approx(b.mean() - a.mean())


def test_mcnemar_is_scipys_exact_test_on_the_discordant_rows() -> None:
    cand = np.array([1] * 30 + [0] * 10 + [1] * 60, dtype=bool)
    champ = np.array([0] * 30 + [1] * 10 + [1] * 60, dtype=bool)
    result = mcnemar(cand, champ, margin=0.0)
    assert result.discordant == (30, 10)
    assert result.p_value == pytest.approx(binomtest(30, 40, 0.5, alternative="greater").pvalue)
    assert result.difference == pytest.approx(0.2)
    assert mcnemar(cand, cand, 0.0).p_value == 1.0  # identical answers: no evidence
    assert mcnemar(cand, champ, margin=0.5).p_value == 1.0  # needs more than every discordant row
