"""The numeric fast path (mloop.serving.numeric) against the general pandas path.

Requests of plain numbers are parsed without pandas, checked against the signature by
``check_numeric_table`` and batched as one array; everything else, and the same requests
with ``parse_request(numeric=False)``, takes the general path. hypothesis draws signatures
(float64/float32/int64/bool columns), requests in the four table formats (columns
reordered, missing, extra; integers, floats, and values that are not numbers) and checks
that the model gets the same input and the caller the same 422. Real estimators check the
same predictions and probabilities, and that ``predict`` is the argmax of ``predict_proba``
for the classes that predict from one call.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sklearn import config_context
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import BaggingClassifier, ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mloop.models.signature import infer_schema
from mloop.serving.estimators import fitted_on_array, predicts_argmax_of_proba, takes_array
from mloop.serving.formats import parse_request
from mloop.serving.numeric import CheckedRows, NumericRows
from mloop.serving.predictor import Predictor, Result, SchemaViolation


class _Loaded:
    """The part of a LoadedModel a Predictor uses."""

    def __init__(self, model: Any, schema: dict[str, Any] | None) -> None:
        self._model = model
        self.signature = {"inputs": schema} if schema is not None else None

    def unwrap(self) -> Any:
        return self._model


class _Recorder:
    """A model that keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def predict(self, data: Any) -> np.ndarray:
        self.seen.append(data)
        return np.zeros(len(data))


def _schema(columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "dataframe", "columns": [{"name": n, "dtype": d} for n, d in columns]}


def _body(fmt: str, names: list[str], rows: list[list[Any]]) -> bytes:
    records = [dict(zip(names, row, strict=True)) for row in rows]
    if fmt == "split":
        payload: Any = {"dataframe_split": {"columns": names, "data": rows}}
    elif fmt == "records":
        payload = {"dataframe_records": records}
    elif fmt == "instances":
        payload = {"instances": records}
    elif fmt == "columns":
        payload = {"inputs": {n: [row[i] for row in rows] for i, n in enumerate(names)}}
    else:  # one record as a mapping of scalars
        payload = {"inputs": records[0]}
    return orjson.dumps(payload)


def _outcome(predictor: Predictor, recorder: _Recorder, body: bytes, numeric: bool) -> Any:
    """The model's input for the request (one batch of it twice), or the 422."""
    parsed = parse_request(body, numeric=numeric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1e300 as float32 overflows to inf on both paths
        try:
            checked = predictor.check(parsed.data)
        except SchemaViolation as exc:
            return ("422", exc.message, exc.field)
        recorder.seen.clear()
        predictor.predict_batch([checked, checked])
    return ("ok", recorder.seen[-1])


def _same_input(fast: Any, general: Any) -> None:
    if isinstance(general, pd.DataFrame):
        assert isinstance(fast, pd.DataFrame)
        pd.testing.assert_frame_equal(fast, general, check_exact=True, check_column_type=False)
    else:
        np.testing.assert_array_equal(fast, general, strict=True)


DTYPES = ["float64", "float32", "int64", "bool"]
NAMES = ["a", "b", "c", "d", "é"]
# Mostly numbers; sometimes what sends a request down the general path.
VALUES = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([0, 1, -1, 2**53, -(2**53), 2**53 + 1, 0.5, 1e300]),
    st.sampled_from([None, True, "x"]),
)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[str], list[list[Any]], str]:
    schema_names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    columns = [(n, draw(st.sampled_from(DTYPES))) for n in schema_names]
    # The request's columns: usually the schema's, reordered; sometimes one more or one less.
    given_names = draw(st.permutations(schema_names))
    if draw(st.integers(0, 4)) == 0:
        given_names = given_names[:-1] or given_names
    if draw(st.integers(0, 4)) == 0:
        given_names = [*given_names, "extra"]
    # Per column, one kind of value mostly, so that columns type-check often.
    kinds = [draw(st.sampled_from(["int", "float", "any"])) for _ in given_names]
    by_kind = {
        "int": st.integers(min_value=-(2**40), max_value=2**40),
        "float": st.floats(allow_nan=False, allow_infinity=False),
        "any": VALUES,
    }
    n_rows = draw(st.integers(1, 4))
    rows = [[draw(by_kind[k]) for k in kinds] for _ in range(n_rows)]
    fmt = draw(st.sampled_from(["split", "records", "instances", "columns", "record"]))
    return columns, given_names, rows, fmt


@given(case=_cases(), as_array=st.booleans())
@example(
    case=([("a", "float64"), ("b", "float64")], ["b", "a"], [[1, 2.5], [3, 4.0]], "split"),
    as_array=False,
)
@example(case=([("a", "int64")], ["a"], [[1.5]], "records"), as_array=False)
@example(case=([("a", "bool")], ["a"], [[1]], "columns"), as_array=False)
@example(case=([("a", "float64"), ("b", "int64")], ["a"], [[1.0]], "split"), as_array=False)
@example(case=([("a", "float32"), ("b", "int64")], ["b", "a"], [[7, 0.1]], "record"), as_array=True)
@example(case=([("a", "int64")], ["a"], [[2**53 + 1]], "split"), as_array=False)
def test_fast_and_general_paths_give_the_model_the_same_input(
    case: tuple[list[tuple[str, str]], list[str], list[list[Any]], str], as_array: bool
) -> None:
    columns, names, rows, fmt = case
    recorder = _Recorder()
    predictor = Predictor(_Loaded(recorder, _schema(columns)))  # type: ignore[arg-type]
    assert predictor.layout is not None
    predictor.layout.as_array = as_array  # what an estimator fitted on an array gets
    body = _body(fmt, names, rows)
    fast = _outcome(predictor, recorder, body, numeric=True)
    general = _outcome(predictor, recorder, body, numeric=False)
    assert fast[0] == general[0], (fast, general)
    if fast[0] == "422":
        assert fast == general
        return
    expected = general[1]
    if as_array and isinstance(parse_request(body).data, NumericRows):
        # The array path gives the model what a DataFrame of the signature's dtypes becomes.
        expected = expected.to_numpy()
    _same_input(fast[1], expected)


def test_numeric_requests_take_the_fast_path_and_others_the_general_one() -> None:
    columns = [("a", "float64"), ("b", "int64")]
    predictor = Predictor(_Loaded(_Recorder(), _schema(columns)))  # type: ignore[arg-type]
    fast = parse_request(b'{"dataframe_split": {"columns": ["b", "a"], "data": [[1, 2.5]]}}')
    assert isinstance(fast.data, NumericRows) and fast.data.integer == (True, False)
    checked = predictor.check(fast.data)
    assert isinstance(checked, CheckedRows)
    assert checked.values.tolist() == [[2.5, 1.0]]  # the signature's order
    for body in (
        b'{"inputs": [{"a": 1.0, "b": null}]}',  # a null: pandas makes it NaN
        b'{"inputs": [{"a": true, "b": 1}]}',  # a boolean
        b'{"inputs": [{"a": 1.0, "b": 1}, {"a": 2.0}]}',  # records with different keys
        b'{"dataframe_split": {"data": [[1.0, 2]]}}',  # no column names
        b'{"inputs": [[1.0, 2]]}',  # rows without names
        b'{"inputs": [{"a": 1.0, "b": 9007199254740993}]}',  # an integer past 2**53
    ):
        assert not isinstance(parse_request(body).data, NumericRows), body


def test_the_same_422_messages() -> None:
    columns = [("a", "float64"), ("b", "int64"), ("c", "bool")]
    predictor = Predictor(_Loaded(_Recorder(), _schema(columns)))  # type: ignore[arg-type]
    cases = {
        b'{"inputs": [{"a": 1.0, "c": 1}]}': (
            "the input is missing the required column 'b' (the model expects columns "
            "['a', 'b', 'c'])",
            "inputs.b",
        ),
        b'{"inputs": [{"a": 1, "b": 1.5, "c": 1}]}': (
            "column 'b' has dtype float64; the model expects int64",
            "inputs.b",
        ),
        b'{"inputs": [{"a": 1, "b": 1, "c": 1}]}': (
            "column 'c' has dtype int64; the model expects bool",
            "inputs.c",
        ),
    }
    for body, expected in cases.items():
        for numeric in (True, False):
            with pytest.raises(SchemaViolation) as raised:
                predictor.check(parse_request(body, numeric=numeric).data)
            assert (raised.value.message, raised.value.field) == expected, (body, numeric)


# -- real estimators -------------------------------------------------------------------------

NAMES_8 = [f"f{i}" for i in range(8)]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 8)), columns=NAMES_8)
    labels = np.where(frame["f0"] + frame["f1"] * frame["f2"] > 0, "yes", "no")
    three = np.digitize(frame["f0"] - frame["f3"], [-0.5, 0.5])
    return frame, labels, three


def _estimators(data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> Iterator[tuple[str, Any]]:
    frame, labels, three = data
    array = frame.to_numpy()
    yield "logistic on a frame", LogisticRegression().fit(frame, labels)
    yield "logistic on an array, 3 classes", LogisticRegression().fit(array, three)
    yield "forest on an array", RandomForestClassifier(5, random_state=0).fit(array, labels)
    yield "forest on a frame", RandomForestClassifier(5, random_state=0).fit(frame, three)
    yield "extra trees", ExtraTreesClassifier(4, random_state=0).fit(array, three)
    yield "bagging", BaggingClassifier(n_estimators=4, random_state=0).fit(array, labels)
    yield (
        "calibrated",
        CalibratedClassifierCV(LogisticRegression(), cv=3).fit(frame, labels),
    )
    yield (
        "pipeline on an array",
        make_pipeline(StandardScaler(), RandomForestClassifier(4, random_state=0)).fit(
            array, labels
        ),
    )
    yield (
        "columns by name",
        make_pipeline(
            ColumnTransformer([("s", StandardScaler(), ["f2", "f0"])]), LogisticRegression()
        ).fit(frame, labels),
    )
    yield "regression on an array", LinearRegression().fit(array, frame["f0"] * 2)


def test_predictions_and_probabilities_match_the_models_own(
    data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame = data[0]
    schema = infer_schema(frame)
    # Batches of requests with the columns in another order, as several formats.
    reordered = list(reversed(NAMES_8))
    requests = [frame.iloc[i : i + n] for i, n in ((0, 1), (1, 3), (4, 1), (5, 40))]
    bodies = [
        orjson.dumps(
            {"dataframe_split": {"columns": reordered, "data": part[reordered].values.tolist()}}
        )
        for part in requests
    ]
    bodies.append(orjson.dumps({"instances": frame.iloc[45:50].to_dict(orient="records")}))
    bodies.append(orjson.dumps({"inputs": frame.iloc[50].to_dict()}))
    whole = pd.concat([*requests, frame.iloc[45:51]], ignore_index=True)
    for name, model in _estimators(data):
        predictor = Predictor(_Loaded(model, schema))  # type: ignore[arg-type]
        checked = [predictor.check(parse_request(body).data) for body in bodies]
        assert all(isinstance(c, CheckedRows) for c in checked), name
        with warnings.catch_warnings(record=True) as caught:
            results = predictor.predict_batch(checked)
        assert [str(w.message) for w in caught] == [], name  # nothing about feature names
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            own = Result(
                model.predict(whole).tolist(),
                model.predict_proba(whole).tolist() if hasattr(model, "predict_proba") else None,
                None,
            )
            _same_results(_joined(results), own, name)
            # Each request alone on each path.
            for body, fast in zip(bodies, checked, strict=True):
                general = predictor.check(parse_request(body, numeric=False).data)
                assert isinstance(general, pd.DataFrame)
                alone = predictor.predict_batch([fast])[0]
                _same_results(alone, predictor.predict_batch([general])[0], name)
                if alone.probabilities is not None:
                    assert alone.confidence == np.max(alone.probabilities, axis=1).tolist()


def _joined(results: list[Result]) -> Result:
    probabilities = [p for r in results for p in r.probabilities or []]
    return Result([p for r in results for p in r.predictions], probabilities or None, None)


def _same_results(got: Result, expected: Result, name: str) -> None:
    """The same predictions, and the same probabilities up to the last bits: the model gets
    the same values either way, but a matrix product's sums depend on the memory layout of
    its input (row- or column-major, or strided when pandas reorders columns) and on the
    batch's size, on the general path too."""
    if all(isinstance(p, float) for p in expected.predictions):  # a regressor's
        np.testing.assert_allclose(got.predictions, expected.predictions, rtol=1e-12)
    else:
        assert got.predictions == expected.predictions, name
    if expected.probabilities is None:
        assert got.probabilities is None, name
    else:
        assert got.probabilities is not None, name
        np.testing.assert_allclose(
            np.asarray(got.probabilities),
            np.asarray(expected.probabilities),
            rtol=1e-12,
            atol=1e-15,
        )


def test_a_batch_mixing_both_paths(data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    frame, labels, _ = data
    model = LogisticRegression().fit(frame, labels)
    predictor = Predictor(_Loaded(model, infer_schema(frame)))  # type: ignore[arg-type]
    row = frame.iloc[0].to_dict()
    numeric = predictor.check(parse_request(orjson.dumps({"inputs": [row]})).data)
    with_bool = predictor.check(parse_request(orjson.dumps({"inputs": [{**row, "f0": True}]})).data)
    assert isinstance(numeric, CheckedRows) and isinstance(with_bool, pd.DataFrame)
    results = predictor.predict_batch([numeric, with_bool, numeric])
    expected = model.predict(pd.concat([frame.iloc[[0]], frame.iloc[[0]].assign(f0=1.0)]))
    assert [r.predictions[0] for r in results] == [expected[0], expected[1], expected[0]]


def test_which_estimators_get_an_array_and_which_predict_from_probabilities(
    data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, labels, _ = data
    array = frame.to_numpy()
    assert fitted_on_array(LogisticRegression().fit(array, labels), 8)
    assert not fitted_on_array(LogisticRegression().fit(array, labels), 7)
    assert not fitted_on_array(LogisticRegression().fit(frame, labels), 8)
    by_name = make_pipeline(
        ColumnTransformer([("s", StandardScaler(), ["f1"])]), LinearRegression()
    )
    assert not fitted_on_array(by_name.fit(frame, frame["f0"]), 8)

    names = list(frame.columns)
    assert takes_array(LogisticRegression().fit(frame, labels), names)
    assert not takes_array(LogisticRegression().fit(frame, labels), names[::-1])
    assert takes_array(
        make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels), names
    )
    assert not takes_array(by_name, names)
    add_one = make_pipeline(FunctionTransformer(lambda x: x + 1), LinearRegression())
    assert not takes_array(add_one.fit(frame, frame["f0"]), names)
    scaled = make_pipeline(StandardScaler(), LinearRegression()).set_output(transform="pandas")
    assert not takes_array(scaled.fit(frame, frame["f0"]), names)
    with config_context(transform_output="pandas"):
        assert not takes_array(LogisticRegression().fit(frame, labels), names)

    class Custom(LogisticRegression):  # code of the user's: nothing assumed
        pass

    assert not fitted_on_array(Custom().fit(array, labels), 8)
    assert not fitted_on_array(make_pipeline(Custom()).fit(array, labels), 8)
    assert not predicts_argmax_of_proba(Custom())
    for model in (
        LogisticRegression(),
        DecisionTreeClassifier(),  # its predict does not call predict_proba
        make_pipeline(StandardScaler(), LogisticRegression()),
    ):
        assert not predicts_argmax_of_proba(model.fit(array, labels)), model


@given(
    seed=st.integers(0, 2**16),
    n_classes=st.integers(2, 4),
    trees=st.integers(1, 6),
    which=st.sampled_from(["forest", "extra", "bagging", "calibrated", "pipeline"]),
)
def test_predict_is_the_argmax_of_predict_proba_where_assumed(
    seed: int, n_classes: int, trees: int, which: str
) -> None:
    """Few trees and few rows make ties in the probabilities: predict must break them the
    same way (this fails if a scikit-learn release changes a listed predict)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(30, 3)).astype(float)
    y = rng.integers(0, n_classes, size=30)
    model: Any = {
        "forest": RandomForestClassifier(trees, max_depth=2, random_state=seed),
        "extra": ExtraTreesClassifier(trees, max_depth=2, random_state=seed),
        "bagging": BaggingClassifier(n_estimators=trees, random_state=seed),
        "calibrated": CalibratedClassifierCV(LogisticRegression(), cv=2),
        "pipeline": make_pipeline(StandardScaler(), RandomForestClassifier(trees, max_depth=1)),
    }[which]
    if which == "calibrated" and min(np.bincount(y, minlength=n_classes)) < 2:
        y = np.arange(30) % n_classes
    model.fit(x, y)
    assert predicts_argmax_of_proba(model)
    probe = rng.integers(0, 3, size=(50, 3)).astype(float)
    predictor = Predictor(_Loaded(model, None))  # type: ignore[arg-type]
    result = predictor.predict_batch([probe])[0]
    assert result.predictions == model.predict(probe).tolist()
    assert result.probabilities == model.predict_proba(probe).tolist()
