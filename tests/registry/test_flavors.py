"""Flavors and the model format: signatures, skops trust, pickle, pyfunc from code."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from tests.registry.registry_testing import double

import mloop
from mloop.core.config import Settings
from mloop.core.errors import ValidationError
from mloop.models import infer_schema, infer_signature

Data = tuple[pd.DataFrame, pd.Series]
DOUBLE = "tests.registry.registry_testing.double"


# -- signatures ----------------------------------------------------------------------------


def test_signature_inference_of_each_input_kind() -> None:
    frame = pd.DataFrame({"age": [1.5, 2.0], "n": [1, 2], "city": ["a", "b"]})
    assert infer_schema(frame) == {
        "type": "dataframe",
        "columns": [
            {"name": "age", "dtype": "float64"},
            {"name": "n", "dtype": "int64"},
            {"name": "city", "dtype": frame["city"].dtype.name},
        ],
    }
    assert infer_schema(np.zeros((20, 4), dtype="float32")) == {
        "type": "ndarray",
        "dtype": "float32",
        "shape": [-1, 4],
    }
    assert infer_schema({"text": "hi", "ids": [1, 2], "p": 0.5}) == {
        "type": "dict",
        "fields": [
            {"name": "text", "dtype": "str"},
            {"name": "ids", "dtype": "list[int]"},
            {"name": "p", "dtype": "float"},
        ],
    }
    assert infer_schema([1, 2.5]) == {"type": "list", "dtype": "float"}
    assert infer_schema([{"q": "a"}, {"q": "b", "k": 1}])["fields"] == [
        {"name": "q"},
        {"name": "k"},
    ]
    signature = infer_signature(frame, np.array([0, 1]))
    assert signature["outputs"] == {"type": "ndarray", "dtype": "int64", "shape": [-1]}


def test_saved_signature_and_input_example(
    settings: Settings, data: Data, classifier: LogisticRegression, tmp_path: Path
) -> None:
    features, _ = data
    metadata = mloop.sklearn.save_model(classifier, tmp_path / "m", input_example=features.iloc[:4])
    stored = json.loads((tmp_path / "m" / "mloop-model.json").read_text())
    assert stored["signature"] == metadata.signature
    assert stored["flavor"] == "sklearn" and stored["serialization"] == "skops"
    assert stored["format_version"] == 1 and stored["python_version"]
    assert "scikit-learn" in stored["library_versions"]
    loaded = mloop.load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.input_example, features.iloc[:4].reset_index(drop=True))


def test_predict_checks_columns_and_types(
    settings: Settings, data: Data, classifier: LogisticRegression, tmp_path: Path
) -> None:
    features, _ = data
    mloop.sklearn.save_model(classifier, tmp_path / "m", input_example=features.iloc[:4])
    loaded = mloop.load_model(tmp_path / "m")
    expected = classifier.predict(features)

    with pytest.raises(ValidationError) as err:
        loaded.predict(features.drop(columns=["b"]))
    assert err.value.field == "model_input.b"
    assert "missing the required column 'b'" in err.value.message

    shuffled = features[["c", "a", "b"]].assign(extra=1)
    np.testing.assert_array_equal(loaded.predict(shuffled), expected)
    records = features.to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), expected)
    np.testing.assert_array_equal(loaded.predict(features.to_numpy()), expected)
    ints = pd.DataFrame({"a": [1, -1], "b": [0, 0], "c": [2, 2]})
    assert list(loaded.predict(ints)) == list(classifier.predict(ints.astype(float)))

    with pytest.raises(ValidationError) as err:
        loaded.predict(features.assign(c="text"))
    assert err.value.field == "model_input.c" and "float64" in err.value.message
    with pytest.raises(ValidationError) as err:
        loaded.predict(np.zeros((3, 2)))
    assert err.value.field == "model_input" and "3 columns" in err.value.message


def test_array_signature_checks_the_shape(settings: Settings, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(20, 3))
    model = LogisticRegression().fit(features, features[:, 0] > 0)
    mloop.sklearn.save_model(model, tmp_path / "m", input_example=features[:2])
    loaded = mloop.load_model(tmp_path / "m")
    assert loaded.signature is not None
    assert loaded.signature["inputs"] == {"type": "ndarray", "dtype": "float64", "shape": [-1, 3]}
    np.testing.assert_array_equal(loaded.predict(features.tolist()), model.predict(features))
    with pytest.raises(ValidationError) as err:
        loaded.predict(features[:, :2])
    assert "(n, 3)" in err.value.message and err.value.field == "model_input"


# -- trust ---------------------------------------------------------------------------------


def test_skops_refuses_untrusted_types_until_trusted(mode: str, data: Data, tmp_path: Path) -> None:
    features, labels = data
    pipeline = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(
        features, labels
    )
    with mloop.start_run():
        mloop.sklearn.log_model(
            pipeline, "model", input_example=features.iloc[:3], registered_model_name="piped"
        )
    with pytest.raises(ValidationError) as err:
        mloop.load_model("models:/piped/1")
    assert err.value.field == "trusted"
    assert DOUBLE in err.value.message and "trusted=" in err.value.message
    with pytest.raises(ValidationError, match="not trusted by default"):
        mloop.load_model("models:/piped/1", trusted=["sklearn.something.Else"])
    for trusted in (True, [DOUBLE]):
        loaded = mloop.load_model("models:/piped/1", trusted=trusted)
        np.testing.assert_array_equal(loaded.predict(features), pipeline.predict(features))


def test_pickle_needs_trusted_to_save_and_to_load(
    settings: Settings, data: Data, classifier: LogisticRegression, tmp_path: Path
) -> None:
    features, _ = data
    with pytest.raises(ValidationError) as err:
        mloop.sklearn.save_model(classifier, tmp_path / "p", serialization="pickle")
    assert err.value.field == "trusted" and not (tmp_path / "p").exists()
    mloop.sklearn.save_model(classifier, tmp_path / "p", serialization="pickle", trusted=True)
    assert (tmp_path / "p" / "model.pkl").is_file()
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "p")
    assert err.value.field == "trusted" and "pickle" in err.value.message
    loaded = mloop.load_model(tmp_path / "p", trusted=True)
    np.testing.assert_array_equal(loaded.predict(features), classifier.predict(features))


def test_save_refuses_an_existing_directory(
    settings: Settings, classifier: LogisticRegression, tmp_path: Path
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError) as err:
        mloop.sklearn.save_model(classifier, tmp_path / "m")
    assert err.value.field == "path"
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"
    # no staging left behind (the test's store may live beside it, on SQLite)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "mloop-home") == ["m"]


# -- pyfunc --------------------------------------------------------------------------------

_SCALER_SOURCE = textwrap.dedent(
    """
    from pathlib import Path

    import mloop


    class Scaler(mloop.PythonModel):
        def load_context(self, context):
            self.factor = float(Path(context.artifacts["factor"]).read_text())

        def predict(self, model_input):
            return model_input * self.factor
    """
)


def test_pyfunc_from_code_with_an_artifact(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"scaler_{uuid.uuid4().hex[:8]}"
    code_dir = tmp_path / "src"
    code_dir.mkdir()
    source = code_dir / f"{module}.py"
    source.write_text(_SCALER_SOURCE)
    factor = tmp_path / "factor.txt"
    factor.write_text("3")
    monkeypatch.setattr(sys, "path", [str(code_dir), *sys.path])
    scaler = __import__(module).Scaler()
    example = pd.DataFrame({"x": [1.0, 2.0]})

    with mloop.start_run():
        info = mloop.pyfunc.log_model(
            "model",
            scaler,
            artifacts={"factor": factor},
            code_paths=[source],
            input_example=example,
            registered_model_name="scaler",
        )
    assert info.flavor == "pyfunc" and info.signature is not None
    assert info.signature["outputs"]["type"] == "dataframe"

    # Forget the class and its file: loading must use the copy inside the model.
    del sys.modules[module]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(code_dir)])
    source.unlink()
    factor.unlink()
    loaded = mloop.load_model("models:/scaler/1", trusted=True)
    assert loaded.metadata.model_class == f"{module}:Scaler"
    assert loaded.metadata.code_paths == (f"code/{module}.py",)
    pd.testing.assert_frame_equal(
        loaded.predict(pd.DataFrame({"x": [2.0, 5.0]})), pd.DataFrame({"x": [6.0, 15.0]})
    )
    with pytest.raises(ValidationError) as err:
        loaded.predict(pd.DataFrame({"y": [1.0]}))
    assert err.value.field == "model_input.x"
    monkeypatch.delitem(sys.modules, module, raising=False)


class _Echo(mloop.PythonModel):
    def predict(self, model_input: object) -> object:
        return model_input


def test_pyfunc_pickle_needs_trusted(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        mloop.pyfunc.save_model(tmp_path / "p", _Echo(), serialization="pickle")
    assert err.value.field == "trusted"
    mloop.pyfunc.save_model(tmp_path / "p", _Echo(), serialization="pickle", trusted=True)
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "p")
    assert err.value.field == "trusted"
    assert mloop.load_model(tmp_path / "p", trusted=True).predict([1, 2]) == [1, 2]
    # Saved from code, the class is found by reference; creating it runs code, so trust too.
    mloop.pyfunc.save_model(tmp_path / "c", _Echo, input_example={"q": "hi"})
    loaded = mloop.load_model(tmp_path / "c", trusted=True)
    assert loaded.predict({"q": "x"}) == {"q": "x"}
    with pytest.raises(ValidationError) as err:
        loaded.predict({"other": 1})
    assert err.value.field == "model_input.q"


def test_pyfunc_refuses_classes_that_cannot_be_imported(settings: Settings, tmp_path: Path) -> None:
    class Local(mloop.PythonModel):
        def predict(self, model_input: object) -> object:
            return model_input

    with pytest.raises(ValidationError) as err:
        mloop.pyfunc.save_model(tmp_path / "m", Local())
    assert err.value.field == "python_model" and "module" in err.value.message
    Main = type(
        "Main", (mloop.PythonModel,), {"__module__": "__main__", "predict": lambda self, x: x}
    )
    with pytest.raises(ValidationError) as err:
        mloop.pyfunc.save_model(tmp_path / "m", Main())
    assert "__main__" in err.value.message and not (tmp_path / "m").exists()


# -- hostile model directories ---------------------------------------------------------------


def _tamper(model_dir: Path, **changes: object) -> None:
    path = model_dir / "mloop-model.json"
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"data": "../../secret.bin"}, "mloop-model.json.data"),
        ({"data": "/etc/passwd"}, "mloop-model.json.data"),
        ({"data": "missing.skops"}, "mloop-model.json.data"),
        ({"format_version": 99}, "mloop-model.json.format_version"),
        ({"flavor": "tensorflow"}, "mloop-model.json.flavor"),
        ({"serialization": "code"}, "mloop-model.json.serialization"),
        ({"surprise": 1}, "mloop-model.json.surprise"),
    ],
)
def test_hostile_metadata_is_refused(
    settings: Settings,
    classifier: LogisticRegression,
    tmp_path: Path,
    changes: dict[str, object],
    field: str,
) -> None:
    mloop.sklearn.save_model(classifier, tmp_path / "m")
    _tamper(tmp_path / "m", **changes)
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "m")
    assert err.value.field == field


def test_payload_symlink_out_of_the_model_is_refused(
    settings: Settings, classifier: LogisticRegression, tmp_path: Path
) -> None:
    mloop.sklearn.save_model(classifier, tmp_path / "m")
    outside = tmp_path / "outside.skops"
    (tmp_path / "m" / "model.skops").rename(outside)
    (tmp_path / "m" / "model.skops").symlink_to(outside)
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "m")
    assert "outside the model directory" in err.value.message
    (tmp_path / "m" / "mloop-model.json").write_text("{not json")
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "m")
    assert err.value.field == "mloop-model.json"
