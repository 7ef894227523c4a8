"""Regression and ranking suites end to end, and a custom scorer as the primary metric."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression

import mloop
import mloop.evals as evals
import mloop.sklearn
from mloop.core.config import Settings
from mloop.core.errors import ValidationError


def _register(frame: pd.DataFrame, features: list[str], target: str) -> int:
    model = LinearRegression().fit(frame[features], frame[target])
    info = mloop.sklearn.log_model(model, registered_model_name="price")
    mloop.end_run()
    assert info.registered_model_version is not None
    return info.registered_model_version.version


@pytest.fixture
def frame(settings: Settings) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"size": rng.normal(size=400), "rooms": rng.normal(size=400)})
    data["query"] = np.repeat(np.arange(40), 10)
    data["price"] = 3 * data["size"] + data["rooms"] + rng.normal(scale=0.3, size=400)
    data["relevance"] = np.clip(np.round(data["price"]), 0, 3)
    mloop.register_dataset("houses", data)
    return data


def test_a_regression_gate_prefers_the_lower_error(frame: pd.DataFrame) -> None:
    weak = _register(frame, ["rooms"], "price")
    strong = _register(frame, ["size", "rooms"], "price")
    evals.register_suite(
        "prices",
        dataset="houses",
        target="price",
        task="regression",
        primary="rmse",
        metrics=["mae", "r2"],
        features=["size", "rooms"],
        resamples=200,
    )
    result = evals.run_suite(f"models:/price/{strong}", "prices")
    predicted = mloop.load_model(f"models:/price/{strong}").predict(frame[["size", "rooms"]])
    assert result.metrics["rmse"] == pytest.approx(
        skm.root_mean_squared_error(frame["price"], predicted)
    )
    assert result.metrics["r2"] == pytest.approx(skm.r2_score(frame["price"], predicted))
    decision = evals.gate(f"models:/price/{strong}", f"models:/price/{weak}", "prices")
    assert decision.passed and not decision.primary.higher_is_better
    assert decision.primary.difference == pytest.approx(
        decision.primary.champion - decision.primary.candidate
    )


def test_a_ranking_suite_resamples_queries(frame: pd.DataFrame) -> None:
    weak = _register(frame, ["rooms"], "price")
    strong = _register(frame, ["size", "rooms"], "price")
    evals.register_suite(
        "search",
        dataset="houses",
        target="relevance",
        task="ranking",
        group="query",
        primary="ndcg@5",
        metrics=["mrr", "map@5", "precision@3"],
        features=["size", "rooms"],
        resamples=200,
    )
    result = evals.run_suite(f"models:/price/{strong}", "search")
    scores = mloop.load_model(f"models:/price/{strong}").predict(frame[["size", "rooms"]])
    want = np.mean(
        [
            skm.ndcg_score(
                [frame["relevance"][frame["query"] == q]], [scores[frame["query"] == q]], k=5
            )
            for q in range(40)
        ]
    )
    assert result.metrics["ndcg@5"] == pytest.approx(want)
    decision = evals.gate(f"models:/price/{strong}", f"models:/price/{weak}", "search")
    assert decision.passed, decision.reasons


def test_a_custom_scorer_is_the_primary_metric(frame: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "house_scores.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from mloop.evals import scorer

            @scorer(greater_is_better=False)
            def big_misses(y_true, y_pred):
                return float(np.mean(np.abs(np.asarray(y_true) - np.asarray(y_pred)) > 1.0))
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        weak = _register(frame, ["rooms"], "price")
        strong = _register(frame, ["size", "rooms"], "price")
        ref = "house_scores:big_misses"
        evals.register_suite(
            "misses",
            dataset="houses",
            target="price",
            task="regression",
            primary=ref,
            scorers=[ref],
            features=["size", "rooms"],
            resamples=100,
        )
        decision = evals.gate(f"models:/price/{strong}", f"models:/price/{weak}", "misses")
        assert decision.passed and decision.primary.metric == ref
        assert not decision.primary.higher_is_better
        with pytest.raises(ValidationError) as err:
            evals.register_suite(
                "x",
                dataset="houses",
                target="price",
                task="regression",
                primary="rmse",
                scorers=["house_scores:nothing"],
            )
        assert err.value.field == "scorers[0]"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("house_scores", None)
