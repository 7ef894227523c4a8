"""LightGBM and XGBoost models behind an endpoint: predictions, classes, probabilities and
confidence as the models give them, in mloop's JSON and MLflow's formats; a damaged booster
file refused at deploy with the endpoint left as it was; the numeric fast path giving what
the general path gives; LGBMClassifier's predict taken from one predict_proba call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from tests.serving.serving_testing import call, variant

import mloop
from mloop.core.errors import ValidationError
from mloop.models import load_model_dir
from mloop.serving.estimators import predicts_argmax_of_proba
from mloop.serving.formats import parse_request
from mloop.serving.numeric import CheckedRows
from mloop.serving.predictor import Predictor
from mloop.store.runtime import Runtime

NAMES = ["a", "b", "c"]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(rng.normal(size=(120, 3)), columns=NAMES)


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["a"] + 0.5 * frame["b"] > 0, "churn", "stay")


def _register(flavor: Any, model: Any, frame: pd.DataFrame, name: str) -> int:
    with mloop.start_run():
        info = flavor.log_model(model, "model", input_example=frame.iloc[:5])
    return mloop.register_model(info.model_uri, name).version


@pytest.fixture
def boosted(runtime: Runtime, frame: pd.DataFrame) -> dict[str, Any]:
    """churn (an LGBMClassifier on string labels), risk (an XGBClassifier, three classes),
    score (an XGBoost Booster)."""
    three = np.digitize(frame["a"] - frame["c"], [-0.5, 0.5])
    models = {
        "churn": lgb.LGBMClassifier(n_estimators=15, verbose=-1).fit(frame, _labels(frame)),
        "risk": xgb.XGBClassifier(n_estimators=8, max_depth=3).fit(frame, three),
        "score": xgb.train(
            {"objective": "binary:logistic", "max_depth": 2},
            xgb.DMatrix(frame, label=(frame["a"] > 0).astype(int)),
            num_boost_round=6,
        ),
    }
    assert _register(mloop.lightgbm, models["churn"], frame, "churn") == 1
    assert _register(mloop.xgboost, models["risk"], frame, "risk") == 1
    assert _register(mloop.xgboost, models["score"], frame, "score") == 1
    return models


@pytest.fixture
def http(runtime: Runtime, boosted: dict[str, Any]) -> Iterator[TestClient]:
    from mloop.server.app import create_app

    with TestClient(create_app(runtime)) as client:
        yield client


def _deploy(endpoint: str, model: str, version: int = 1) -> Any:
    if not any(e.name == endpoint for e in call("list_endpoints").endpoints):
        call("create_endpoint", name=endpoint)
    return call("deploy", endpoint=endpoint, variants=[variant(model, version=version)])


def test_lightgbm_classifier_answers_with_classes_probabilities_and_confidence(
    http: TestClient, boosted: dict[str, Any], frame: pd.DataFrame
) -> None:
    _deploy("churn-api", "churn")
    model = boosted["churn"]
    rows = frame.iloc[:6]
    answer = http.post(
        "/endpoints/churn-api/invocations", json={"inputs": rows.to_dict(orient="records")}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == model.predict(rows).tolist()
    assert set(body["predictions"]) <= {"churn", "stay"}
    assert body["classes"] == ["churn", "stay"]
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(rows), rtol=1e-12)
    assert body["confidence"] == [max(p) for p in body["probabilities"]]
    # MLflow's dataframe_split gets MLflow's answer: the predictions alone.
    split = http.post(
        "/endpoints/churn-api/invocations",
        json={"dataframe_split": rows[list(reversed(NAMES))].to_dict(orient="split")},
    )
    assert split.status_code == 200, split.text
    assert split.json() == {"predictions": model.predict(rows).tolist()}
    missing = http.post("/endpoints/churn-api/invocations", json={"inputs": [{"a": 1.0}]})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "inputs.b"


def test_xgboost_classifier_and_booster_endpoints(
    http: TestClient, boosted: dict[str, Any], frame: pd.DataFrame
) -> None:
    _deploy("risk-api", "risk")
    _deploy("score-api", "score")
    rows = frame.iloc[10:15]
    records = {"inputs": rows.to_dict(orient="records")}
    risk = http.post("/endpoints/risk-api/invocations", json=records).json()
    assert risk["predictions"] == boosted["risk"].predict(rows).tolist()
    assert risk["classes"] == [0, 1, 2]
    np.testing.assert_allclose(risk["probabilities"], boosted["risk"].predict_proba(rows))
    assert risk["confidence"] == [max(p) for p in risk["probabilities"]]
    # A Booster predicts what its own predict gives on a DMatrix: here P(class 1).
    score = http.post("/endpoints/score-api/invocations", json=records).json()
    expected = boosted["score"].predict(xgb.DMatrix(rows))
    np.testing.assert_allclose(score["predictions"], expected, rtol=1e-6)
    assert score["probabilities"] is None and score["confidence"] is None


def test_a_damaged_booster_file_is_refused_and_the_endpoint_keeps_its_version(
    http: TestClient, boosted: dict[str, Any], frame: pd.DataFrame, tmp_path: Path
) -> None:
    first = _deploy("churn-api", "churn")
    rows = {"inputs": frame.iloc[:2].to_dict(orient="records")}
    before = http.post("/endpoints/churn-api/invocations", json=rows).json()
    for damage, reason in (
        (b"tree\nnot a model at all\n", "is not a model file LightGBM can read"),
        (b"", "is not a model file LightGBM can read"),
    ):
        local = tmp_path / f"damaged-{len(damage)}"
        mloop.lightgbm.save_model(boosted["churn"], local, input_example=frame.iloc[:5])
        (local / "model.txt").write_bytes(damage)
        version = mloop.register_model(str(local), "churn").version
        with pytest.raises(ValidationError, match=reason) as raised:
            _deploy("churn-api", "churn", version)
        assert f"models:/churn/{version} cannot be loaded" in str(raised.value)
    # A model file that names a class to create outside the flavor's own is refused when
    # it is registered, before anything could load it.
    hostile = tmp_path / "hostile"
    mloop.lightgbm.save_model(boosted["churn"], hostile)
    meta = orjson.loads((hostile / "mloop-model.json").read_bytes())
    (hostile / "mloop-model.json").write_bytes(orjson.dumps({**meta, "model_class": "os:system"}))
    with pytest.raises(ValidationError, match="model_class 'os:system' is not one of"):
        mloop.register_model(str(hostile), "churn")
    status = call("endpoint_status", name="churn-api")
    assert status.deployment.id == first.id
    assert [e.kind for e in call("list_deployment_events", endpoint="churn-api").events] == [
        "deploy"
    ]
    after = http.post("/endpoints/churn-api/invocations", json=rows).json()
    assert (after["version"], after["predictions"]) == (1, before["predictions"])


# -- the predictor: fast path, one call for two answers -----------------------------------


def _bodies(frame: pd.DataFrame) -> list[bytes]:
    reordered = list(reversed(NAMES))
    parts = [frame.iloc[i : i + n] for i, n in ((0, 1), (1, 4), (5, 30))]
    bodies = [
        orjson.dumps(
            {"dataframe_split": {"columns": reordered, "data": p[reordered].values.tolist()}}
        )
        for p in parts
    ]
    bodies.append(orjson.dumps({"instances": frame.iloc[35:40].to_dict(orient="records")}))
    return bodies


def test_fast_path_gives_what_the_general_path_gives(
    runtime: Runtime, boosted: dict[str, Any], frame: pd.DataFrame
) -> None:
    from mloop.client.registry_fluent import download_model

    bodies = _bodies(frame)
    for name, model in boosted.items():
        loaded = load_model_dir(download_model(f"models:/{name}/1"))
        predictor = Predictor(loaded)
        fast = [predictor.check(parse_request(b).data) for b in bodies]
        general = [predictor.check(parse_request(b, numeric=False).data) for b in bodies]
        assert all(isinstance(x, CheckedRows) for x in fast), name
        assert all(isinstance(x, pd.DataFrame) for x in general), name
        together = predictor.predict_batch(fast)
        assert together[0].probabilities is not None or name == "score", name
        for fast_one, general_one, in_batch in zip(fast, general, together, strict=True):
            alone = predictor.predict_batch([fast_one])[0]
            reference = predictor.predict_batch([general_one])[0]
            # Both paths give the model a DataFrame of the same values: the same answers.
            assert alone == reference and in_batch == reference, name
        if isinstance(model, xgb.Booster):
            expected = model.predict(xgb.DMatrix(frame.iloc[:1]))
            np.testing.assert_allclose(together[0].predictions, expected, rtol=1e-6)
        else:
            assert together[0].predictions == model.predict(frame.iloc[:1]).tolist(), name


def test_which_boosted_models_predict_from_probabilities(frame: pd.DataFrame) -> None:
    labels = _labels(frame)
    assert predicts_argmax_of_proba(
        lgb.LGBMClassifier(n_estimators=2, verbose=-1).fit(frame, labels)
    )
    assert not predicts_argmax_of_proba(
        lgb.LGBMRegressor(n_estimators=2, verbose=-1).fit(frame, frame["a"])
    )
    # XGBoost's binary predict thresholds P(class 1) at 0.5: not assumed.
    assert not predicts_argmax_of_proba(
        xgb.XGBClassifier(n_estimators=2).fit(frame, labels == "churn")
    )

    def objective(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        grad = 1 / (1 + np.exp(-y_pred)) - y_true
        return grad, np.full_like(grad, 0.25)

    custom = lgb.LGBMClassifier(n_estimators=2, objective=objective, verbose=-1)
    assert not predicts_argmax_of_proba(custom.fit(frame, labels == "churn"))

    class Mine(lgb.LGBMClassifier):  # a subclass may change predict: nothing assumed
        pass

    assert not predicts_argmax_of_proba(Mine(n_estimators=2, verbose=-1).fit(frame, labels))


class _Loaded:
    """The part of a LoadedModel a Predictor uses."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.signature = None

    def unwrap(self) -> Any:
        return self._model


@given(seed=st.integers(0, 2**16), n_classes=st.integers(2, 4), rounds=st.integers(1, 4))
def test_lightgbm_predict_is_the_argmax_of_its_probabilities(
    seed: int, n_classes: int, rounds: int
) -> None:
    """Few rounds on few distinct rows make ties in the probabilities: the one-call answer
    must break them as LGBMClassifier.predict does."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(40, 3)).astype(float)
    y = np.array(["a", "b", "c", "d"])[rng.integers(0, n_classes, size=40)]
    if len(set(y)) < 2:
        y[:2] = ["a", "b"]
    model = lgb.LGBMClassifier(
        n_estimators=rounds, num_leaves=2, min_child_samples=1, verbose=-1, random_state=seed
    ).fit(x, y)
    predictor = Predictor(_Loaded(model))  # type: ignore[arg-type]
    assert predictor._predict_from_proba
    probe = rng.integers(0, 3, size=(60, 3)).astype(float)
    result = predictor.predict_batch([probe])[0]
    assert result.predictions == np.asarray(model.predict(probe)).tolist()
    assert result.probabilities == np.asarray(model.predict_proba(probe)).tolist()
