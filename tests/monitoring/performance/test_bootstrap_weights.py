"""Resample weights: counts of rows drawn, in blocks, stratified on request; weighted AUC."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from mloop.core.errors import ValidationError
from mloop.monitoring.performance import Bootstrap
from mloop.monitoring.performance import bootstrap as bootstrap_module
from mloop.monitoring.performance.bootstrap import resample_weights
from mloop.monitoring.performance.ranking import RankedScores


def test_each_resample_draws_n_rows_and_blocks_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap_module, "BLOCK_CELLS", 50)  # force several blocks
    blocks = list(resample_weights(20, Bootstrap(n_resamples=7, seed=3)))
    assert len(blocks) > 1
    weights = np.concatenate(blocks)
    assert weights.shape == (7, 20)
    assert (weights.sum(axis=1) == 20).all()
    assert (weights >= 0).all()


def test_stratified_resamples_keep_each_group_size() -> None:
    strata = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    weights = np.concatenate(list(resample_weights(10, Bootstrap(200, seed=1), strata)))
    for group in (0, 1, 2):
        members = strata == group
        assert (weights[:, members].sum(axis=1) == members.sum()).all()


def test_the_seed_fixes_the_resamples() -> None:
    first = np.concatenate(list(resample_weights(30, Bootstrap(10, seed=9))))
    again = np.concatenate(list(resample_weights(30, Bootstrap(10, seed=9))))
    assert (first == again).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_resamples": 1}, "bootstrap.n_resamples"),
        ({"n_resamples": 10.5}, "bootstrap.n_resamples"),
        ({"confidence": 1.0}, "bootstrap.confidence"),
        ({"confidence": 0.0}, "bootstrap.confidence"),
    ],
)
def test_bad_settings(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Bootstrap(**kwargs)
    assert err.value.field == field


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 4)), min_size=2, max_size=40
    )
)
def test_weighted_auc_equals_sklearn_with_sample_weight(
    rows: list[tuple[bool, int, int]],
) -> None:
    label = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows], dtype=float)
    weight = np.array([r[2] for r in rows], dtype=float)
    auc = RankedScores(score).auc((weight * label)[None, :], (weight * ~label)[None, :])[0]
    if weight[label].sum() == 0 or weight[~label].sum() == 0:
        assert np.isnan(auc)
    else:
        assert auc == pytest.approx(roc_auc_score(label, score, sample_weight=weight), rel=1e-12)
