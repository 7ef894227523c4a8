"""The XGBoost flavor: a Booster, or XGBoost's scikit-learn wrapper of one, in XGBoost's own
model format.

``model.ubj`` (UBJSON, the default) or ``model.json`` is what ``save_model`` writes and
``load_model`` parses: trees, parameters and the wrapper's type as data, no pickle, so
loading runs no code and needs no ``trusted``. A wrapper (``XGBClassifier``,
``XGBRegressor``, ``XGBRanker``, ``XGBRFClassifier``, ``XGBRFRegressor``) also has
``estimator.json`` (:mod:`mloop.models.boosting`) with its parameters, such as ``missing``,
which its predict uses and XGBoost's file does not keep.

A Booster's ``predict`` takes a DMatrix; :class:`BoosterPredictor` gives the model's
``predict`` on DataFrames and arrays to :class:`~mloop.models.loading.LoadedModel` and to
serving, while ``unwrap()`` still returns the Booster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mloop.core.errors import ValidationError
from mloop.models.boosting import (
    ESTIMATOR_FILE,
    class_reference,
    example_signature,
    finish_directory,
    import_library,
    read_wrapper,
    refuse_custom_objective,
    wrapper_params,
    wrapper_state,
)
from mloop.models.io import staged_directory
from mloop.models.metadata import MODEL_CLASSES, ModelMetadata, resolve_inside

FLAVOR = "xgboost"
BOOSTER = "xgboost:Booster"
_FORMATS = ("ubj", "json")


class BoosterPredictor:
    """An XGBoost Booster's ``predict`` on what other models take (a DataFrame, an array),
    through a DMatrix as XGBoost's own predict needs."""

    def __init__(self, booster: Any) -> None:
        import xgboost

        self.booster = booster
        self._dmatrix = xgboost.DMatrix
        # A DMatrix keeps pandas categories only when asked; the booster says if it used any.
        self._categorical = any(kind == "c" for kind in booster.feature_types or ())

    def predict(self, model_input: Any) -> Any:
        return self.booster.predict(
            self._dmatrix(model_input, enable_categorical=self._categorical)
        )


def is_booster(model: Any) -> bool:
    """Whether ``model`` is an XGBoost Booster (checked without importing XGBoost)."""
    kind = type(model)
    return kind.__name__ == "Booster" and kind.__module__.startswith("xgboost.")


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any = None,
    serialization: Literal["ubj", "json"] = "ubj",
) -> ModelMetadata:
    """Write ``model`` (a Booster or a fitted wrapper) to a new directory ``path``;
    ``serialization`` is XGBoost's UBJSON (``ubj``, compact) or JSON (``json``, readable)."""
    if serialization not in _FORMATS:
        raise ValidationError(
            f"serialization must be 'ubj' or 'json', got {serialization!r}",
            field="serialization",
        )
    xgb = import_library("xgboost", "saving an XGBoost model", "model")
    reference = class_reference(model, xgb, MODEL_CLASSES[FLAVOR])
    state: dict[str, Any] | None = None
    if reference == BOOSTER:
        predict = BoosterPredictor(model).predict
    else:
        if not model.__sklearn_is_fitted__():
            raise ValidationError("model is not fitted yet: call fit first", field="model")
        refuse_custom_objective(model, model.objective)
        state = wrapper_state(model.get_params(deep=False))
        predict = model.predict
    signature = example_signature(predict, input_example)
    payload = f"model.{serialization}"
    with staged_directory(path) as staging:
        # XGBoost picks the format from the file's extension.
        model.save_model(str(staging / payload))
        return finish_directory(
            staging,
            flavor=FLAVOR,
            serialization=serialization,
            payload=payload,
            reference=reference,
            state=state,
            signature=signature,
            input_example=input_example,
            libraries=("xgboost", "xgboost-cpu", "numpy", "pandas", "scikit-learn"),
        )


def load_xgboost(
    model_dir: str | Path, metadata: ModelMetadata, *, model: str = "", mlflow: bool = False
) -> Any:
    """The Booster or wrapper in a model directory (no code runs: the file is data).

    ``mlflow``: the directory was written by ``mlflow.xgboost``, whose wrappers have no
    ``estimator.json`` and load with their default parameters, as MLflow loads them.
    """
    model = model or str(model_dir)
    xgb = import_library("xgboost", f"loading model {model} (an XGBoost model)", "model_uri")
    root = Path(model_dir)
    payload = resolve_inside(root, str(metadata.data), "mloop-model.json.data")
    reference = metadata.model_class or BOOSTER
    if reference not in MODEL_CLASSES[FLAVOR]:
        raise ValidationError(
            f"model {model}: model_class {reference!r} is not one of "
            f"{', '.join(MODEL_CLASSES[FLAVOR])}",
            field="mloop-model.json.model_class",
        )
    cls = getattr(xgb, reference.split(":", 1)[1])
    if reference == BOOSTER:
        loaded = cls()
    else:
        params: dict[str, Any] = {}
        if not mlflow or (root / ESTIMATOR_FILE).exists():
            params = wrapper_params(read_wrapper(root))
        try:
            loaded = cls(**params)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{ESTIMATOR_FILE}.params: {exc}", field=f"{ESTIMATOR_FILE}.params"
            ) from None
    try:
        loaded.load_model(str(payload))
    except Exception as exc:  # XGBoostError; TypeError: a file of another wrapper type
        raise ValidationError(
            f"model {model}: {metadata.data} is not a {reference.split(':', 1)[1]} model file "
            f"XGBoost can read: {type(exc).__name__}: {exc}",
            field="mloop-model.json.data",
        ) from None
    return loaded
