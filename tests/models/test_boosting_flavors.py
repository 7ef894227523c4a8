"""The LightGBM and XGBoost flavors: every kind round-trips to the same kind with the same
predictions, probabilities and classes; nothing is pickled and nothing needs ``trusted``;
damaged or hostile files get a clear error; MLflow's lightgbm/xgboost directories load
natively; a missing library names the extra to install."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

import mloop
from mloop.core.config import Settings
from mloop.core.errors import ValidationError
from mloop.models import read_metadata
from mloop.models.boosting import encode_classes
from mloop.models.metadata import ModelMetadata

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(rng.normal(size=(150, 3)), columns=NAMES)


def _two(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["a"] + frame["b"] > 0, "yes", "no")


def _three(frame: pd.DataFrame) -> np.ndarray:
    return np.digitize(frame["a"] - frame["c"], [-0.5, 0.5])


def _groups(frame: pd.DataFrame) -> np.ndarray:
    return np.repeat(np.arange(len(frame) // 10), 10)


# name -> (module, a fitted model, the model's own predict on a DataFrame)
KINDS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "LGBMClassifier, string labels": lambda f: lgb.LGBMClassifier(n_estimators=8, verbose=-1).fit(
        f, _two(f)
    ),
    "LGBMClassifier, 3 classes, on an array": lambda f: lgb.LGBMClassifier(
        n_estimators=8, num_leaves=7, verbose=-1
    ).fit(f.to_numpy(), _three(f)),
    "LGBMRegressor": lambda f: lgb.LGBMRegressor(n_estimators=8, verbose=-1).fit(f, f["a"] * 2),
    "LGBMRanker": lambda f: lgb.LGBMRanker(n_estimators=4, verbose=-1, min_child_samples=2).fit(
        f, _three(f), group=[10] * (len(f) // 10)
    ),
    "lightgbm Booster, multiclass": lambda f: lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lgb.Dataset(f, _three(f)),
        num_boost_round=4,
    ),
    "XGBClassifier": lambda f: xgb.XGBClassifier(n_estimators=6, max_depth=3).fit(f, _three(f)),
    "XGBRegressor": lambda f: xgb.XGBRegressor(n_estimators=6).fit(f, f["a"] * 2),
    "XGBRanker": lambda f: xgb.XGBRanker(n_estimators=4).fit(f, _three(f), qid=_groups(f)),
    "XGBRFClassifier": lambda f: xgb.XGBRFClassifier(n_estimators=4).fit(f, _three(f) == 1),
    "XGBRFRegressor": lambda f: xgb.XGBRFRegressor(n_estimators=4).fit(f, f["b"]),
    "xgboost Booster": lambda f: xgb.train(
        {"objective": "binary:logistic"}, xgb.DMatrix(f, label=f["a"] > 0), num_boost_round=4
    ),
}


def _own_predict(model: Any, data: pd.DataFrame) -> np.ndarray:
    if isinstance(model, xgb.Booster):
        return np.asarray(model.predict(xgb.DMatrix(data)))
    return np.asarray(model.predict(data))


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_round_trips_to_the_same_kind_and_predictions(
    kind: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    model = KINDS[kind](frame)
    flavor = mloop.lightgbm if "lightgbm" in type(model).__module__ else mloop.xgboost
    metadata = flavor.save_model(model, tmp_path / "m", input_example=frame.iloc[:4])
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    payload = "model.txt" if flavor is mloop.lightgbm else "model.ubj"
    wrapper = [] if type(model).__name__ == "Booster" else ["estimator.json"]
    assert files == sorted([payload, "mloop-model.json", "input_example.json", *wrapper])
    assert metadata.model_class == f"{flavor.__name__.split('.')[-1]}:{type(model).__name__}"
    assert metadata.signature is not None and metadata.signature["inputs"]["type"] == "dataframe"
    assert read_metadata(tmp_path / "m") == metadata

    back = flavor.load_model(tmp_path / "m")  # no trusted: the files are data
    assert type(back) is type(model)
    np.testing.assert_array_equal(_own_predict(back, frame), _own_predict(model, frame))
    if hasattr(model, "classes_"):
        np.testing.assert_array_equal(back.classes_, model.classes_, strict=True)
        np.testing.assert_array_equal(back.predict_proba(frame), model.predict_proba(frame))

    # mloop.load_model checks the signature, reorders columns, and predicts a Booster too.
    loaded = mloop.load_model(tmp_path / "m")
    assert loaded.flavor == flavor.__name__.split(".")[-1]
    reordered = frame[list(reversed(NAMES))]
    np.testing.assert_array_equal(loaded.predict(reordered), _own_predict(model, frame))
    with pytest.raises(ValidationError, match="missing the required column 'c'"):
        loaded.predict(frame[["a", "b"]])
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_xgboost_json_and_the_parameters_predict_uses(frame: pd.DataFrame, tmp_path: Path) -> None:
    """``missing`` changes predictions and XGBoost's file does not keep it: estimator.json
    does. Parameters JSON cannot hold are listed, not silently changed."""
    sparse = frame.mask(frame.abs() < 0.3, 0.0)
    model = xgb.XGBClassifier(n_estimators=6, missing=0.0).fit(sparse, _three(sparse))
    mloop.xgboost.save_model(model, tmp_path / "m", serialization="json")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["learner"]
    back = mloop.xgboost.load_model(tmp_path / "m")
    assert back.missing == 0.0 and back.n_estimators == 6
    np.testing.assert_array_equal(back.predict_proba(sparse), model.predict_proba(sparse))
    with_nan = xgb.XGBClassifier(n_estimators=6)
    with_nan.load_model(tmp_path / "m" / "model.json")  # XGBoost's file alone: missing=NaN
    assert not np.array_equal(with_nan.predict_proba(sparse), model.predict_proba(sparse))

    default = xgb.XGBRegressor(n_estimators=3).fit(frame, frame["a"])
    mloop.xgboost.save_model(default, tmp_path / "nan")
    state = json.loads((tmp_path / "nan" / "estimator.json").read_text())
    assert state["float_params"] == {"missing": "nan"}  # strict JSON, NaN as a string
    assert np.isnan(mloop.xgboost.load_model(tmp_path / "nan").missing)

    lgbm = lgb.LGBMClassifier(
        n_estimators=5, num_leaves=4, reg_alpha=0.5, random_state=np.random.RandomState(0)
    )
    mloop.lightgbm.save_model(lgbm.fit(frame, _two(frame)), tmp_path / "lgbm")
    state = json.loads((tmp_path / "lgbm" / "estimator.json").read_text())
    assert state["params_left_out"] == ["random_state"]
    back_params = mloop.lightgbm.load_model(tmp_path / "lgbm").get_params()
    assert back_params == {**lgbm.get_params(), "random_state": None}  # None: its default


def test_log_register_and_load_through_the_registry(
    settings: Settings, frame: pd.DataFrame
) -> None:
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, _two(frame))
    with mloop.start_run():
        info = mloop.lightgbm.log_model(
            model, "model", input_example=frame.iloc[:3], registered_model_name="gbm"
        )
    assert info.flavor == "lightgbm" and info.registered_model_version is not None
    version = mloop.Client().get_model_version("gbm", 1)
    assert version.flavor == "lightgbm"
    assert version.signature is not None
    assert [c["name"] for c in version.signature["inputs"]["columns"]] == NAMES
    loaded = mloop.load_model("models:/gbm/1")
    assert list(loaded.predict(frame.iloc[:5])) == list(model.predict(frame.iloc[:5]))
    assert type(mloop.lightgbm.load_model("models:/gbm/1")) is lgb.LGBMClassifier
    with pytest.raises(ValidationError, match="is a lightgbm model, not an XGBoost one"):
        mloop.xgboost.load_model("models:/gbm/1")
    with pytest.raises(ValidationError, match="is a lightgbm model, not a scikit-learn one"):
        mloop.sklearn.load_model("models:/gbm/1")

    booster = xgb.train({}, xgb.DMatrix(frame, label=frame["a"]), num_boost_round=3)
    with mloop.start_run():
        mloop.xgboost.log_model(booster, "model", registered_model_name="xgb-booster")
    assert isinstance(mloop.xgboost.load_model("models:/xgb-booster/1"), xgb.Booster)


# -- MLflow's directories --------------------------------------------------------------------


def test_mlflow_lightgbm_and_xgboost_directories_load_natively(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    import mlflow.lightgbm
    import mlflow.xgboost

    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(frame, frame["a"] > 0), 4
    )
    mlflow.lightgbm.save_model(booster, tmp_path / "lgb", pip_requirements=[])
    loaded = mloop.load_model(tmp_path / "lgb")  # no trusted: LightGBM's text file
    assert (loaded.flavor, loaded.metadata.serialization) == ("lightgbm", "text")
    assert loaded.metadata.library_versions["lightgbm"] == lgb.__version__
    np.testing.assert_array_equal(loaded.predict(frame), booster.predict(frame))

    classifier = xgb.XGBClassifier(n_estimators=4).fit(frame, _three(frame))
    for fmt in ("ubj", "json"):
        mlflow.xgboost.save_model(
            classifier, tmp_path / f"xgb-{fmt}", model_format=fmt, pip_requirements=[]
        )
        loaded = mloop.load_model(tmp_path / f"xgb-{fmt}")
        assert (loaded.flavor, loaded.metadata.serialization) == ("xgboost", fmt)
        assert type(loaded.unwrap()) is xgb.XGBClassifier
        np.testing.assert_array_equal(loaded.predict_proba(frame), classifier.predict_proba(frame))
    assert isinstance(mloop.xgboost.load_model(tmp_path / "xgb-ubj"), xgb.XGBClassifier)

    # MLflow saves LightGBM's wrappers with skops or pickle, not LightGBM's text: those
    # still load through mlflow.pyfunc, and only when trusted.
    wrapper = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(frame, _two(frame))
    mlflow.lightgbm.save_model(
        wrapper, tmp_path / "wrapper", serialization_format="cloudpickle", pip_requirements=[]
    )
    with pytest.raises(ValidationError, match="trusted=True"):
        mloop.load_model(tmp_path / "wrapper")


def test_mlflow_model_class_outside_the_flavor_is_not_loaded_natively(tmp_path: Path) -> None:
    (tmp_path / "model.ubj").write_bytes(b"{}")
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  xgboost:\n    data: model.ubj\n    model_class: os.system\n"
        "    model_format: ubj\n  python_function:\n    loader_module: mlflow.xgboost\n"
        "    data: model.ubj\n"
    )
    with pytest.raises(ValidationError, match=r"MLflow model \(mlflow.xgboost\).*trusted=True"):
        mloop.load_model(tmp_path)


# -- damaged and hostile files -----------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved")
    lgbm = lgb.LGBMClassifier(n_estimators=4, verbose=-1).fit(frame, _two(frame))
    mloop.lightgbm.save_model(lgbm, root / "lgbm")
    regressor = xgb.XGBRegressor(n_estimators=3).fit(frame, frame["a"])
    mloop.xgboost.save_model(regressor, root / "xgbr")
    return {"lgbm": root / "lgbm", "xgbr": root / "xgbr"}


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def test_damaged_payloads_get_a_clear_error(saved: dict[str, Path], tmp_path: Path) -> None:
    lgbm = _copy(saved["lgbm"], tmp_path / "lgbm")
    (lgbm / "model.txt").write_text("tree\nversion=v4\nnum_class=banana\n")
    with pytest.raises(ValidationError, match=r"model\.txt is not a model file LightGBM can read"):
        mloop.load_model(lgbm)
    xgbr = _copy(saved["xgbr"], tmp_path / "xgbr")
    (xgbr / "model.ubj").write_bytes(b"\x00\x01 not ubjson")
    with pytest.raises(ValidationError, match="is not a XGBRegressor model file XGBoost can read"):
        mloop.load_model(xgbr)
    # A regressor's file under a classifier's name: XGBoost's own type check refuses it.
    liar = _copy(saved["xgbr"], tmp_path / "liar")
    _edit_json(liar / "mloop-model.json", lambda b: b.update(model_class="xgboost:XGBClassifier"))
    with pytest.raises(ValidationError, match="XGBClassifier model file XGBoost can read"):
        mloop.load_model(liar)
    (lgbm / "estimator.json").unlink()
    (lgbm / "model.txt").write_bytes((saved["lgbm"] / "model.txt").read_bytes())
    with pytest.raises(ValidationError, match=r"'estimator\.json', which is missing"):
        mloop.load_model(lgbm)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["params"].update(_Booster=1), "'_Booster' is not a public identifier"),
        (lambda s: s.update(float_params={"missing": "1e9"}), "must be 'nan', 'inf' or '-inf'"),
        (lambda s: s.update(classes=["no", "maybe", "yes"]), "lists 3 classes, but the booster"),
        (lambda s: s.update(classes_dtype="<M8[ns]"), "not a dtype of numbers, booleans"),
        (lambda s: s.update(classes=[]), "classes must be a non-empty list"),
        (lambda s: s.update(objective=None), "objective must be the name"),
        (lambda s: s.update(params=["x"]), "must be objects"),
    ],
)
def test_hostile_estimator_json_is_refused(
    saved: dict[str, Path], tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    model = _copy(saved["lgbm"], tmp_path / "m")
    _edit_json(model / "estimator.json", change)
    with pytest.raises(ValidationError, match=message):
        mloop.load_model(model)


def test_metadata_names_only_the_flavors_own_classes_and_formats(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    model = _copy(saved["lgbm"], tmp_path / "m")
    _edit_json(model / "mloop-model.json", lambda b: b.update(model_class="os:system"))
    with pytest.raises(ValidationError, match="model_class 'os:system' is not one of") as err:
        mloop.load_model(model)
    assert err.value.field == "mloop-model.json.model_class"
    base = {"flavor": "lightgbm", "data": "model.txt", "model_class": "lightgbm:Booster"}
    with pytest.raises(ValidationError, match="'pickle' is not valid for flavor lightgbm"):
        ModelMetadata.from_dict({**base, "serialization": "pickle"})
    with pytest.raises(ValidationError, match="data must name the payload file"):
        ModelMetadata.from_dict({**base, "serialization": "text", "data": None})


# -- what cannot be saved, and a missing library ----------------------------------------------


def test_what_cannot_be_saved_is_refused_with_the_reason(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    class Mine(lgb.LGBMRegressor):
        pass

    with pytest.raises(ValidationError, match="a subclass would need its code"):
        mloop.lightgbm.save_model(Mine(n_estimators=2).fit(frame, frame["a"]), tmp_path / "a")
    with pytest.raises(ValidationError, match="saves xgboost's own Booster, XGBClassifier"):
        mloop.xgboost.save_model(LogisticRegression(), tmp_path / "b")
    with pytest.raises(ValidationError, match="not fitted yet"):
        mloop.lightgbm.save_model(lgb.LGBMClassifier(), tmp_path / "c")

    def objective(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return y_pred - y_true, np.ones_like(y_pred)

    custom = lgb.LGBMRegressor(n_estimators=2, objective=objective, verbose=-1)
    with pytest.raises(ValidationError, match="custom objective function"):
        mloop.lightgbm.save_model(custom.fit(frame, frame["a"]), tmp_path / "d")
    booster = custom.booster_  # the booster itself saves: its predict gives raw scores
    mloop.lightgbm.save_model(booster, tmp_path / "e")
    with pytest.raises(ValidationError, match="serialization must be 'ubj' or 'json'"):
        mloop.xgboost.save_model(booster, tmp_path / "f", serialization="pickle")
    with pytest.raises(ValidationError, match="cannot be saved as JSON"):
        encode_classes(np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


def test_without_the_library_the_error_names_the_extra(
    saved: dict[str, Path], frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    booster = xgb.train({}, xgb.DMatrix(frame, label=frame["a"]), num_boost_round=2)
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now fails
    monkeypatch.setitem(sys.modules, "xgboost", None)
    for path, library in ((saved["lgbm"], "lightgbm"), (saved["xgbr"], "xgboost")):
        with pytest.raises(ValidationError) as err:
            mloop.load_model(path)
        assert f"needs the {library} package" in err.value.message
        assert "pip install 'mloop[boosting]'" in err.value.message
        assert err.value.field == "model_uri"
    with pytest.raises(ValidationError, match=r"saving an XGBoost model needs the xgboost"):
        mloop.xgboost.save_model(booster, tmp_path / "m")
