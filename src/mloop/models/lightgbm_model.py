"""The LightGBM flavor: a Booster, or LightGBM's scikit-learn wrapper of one, in LightGBM's
own model text file.

``model.txt`` is what ``Booster.save_model`` writes and ``Booster(model_file=...)`` parses:
trees and parameters as text, no pickle, so loading runs no code and needs no ``trusted``.
A wrapper (``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``) also has
``estimator.json`` (:mod:`mloop.models.boosting`): its parameters, its resolved objective,
and for a classifier its classes, so the loaded wrapper predicts labels and probabilities as
the saved one did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.models.boosting import (
    class_reference,
    decode_classes,
    encode_classes,
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

FLAVOR = "lightgbm"
SERIALIZATION = "text"
BOOSTER = "lightgbm:Booster"
CLASSIFIER = "lightgbm:LGBMClassifier"
_PAYLOAD = "model.txt"


def save_model(model: Any, path: str | Path, *, input_example: Any = None) -> ModelMetadata:
    """Write ``model`` (a Booster or a fitted wrapper) to a new directory ``path``; the
    signature comes from ``input_example``."""
    lgb = import_library("lightgbm", "saving a LightGBM model", "model")
    reference = class_reference(model, lgb, MODEL_CLASSES[FLAVOR])
    state: dict[str, Any] | None = None
    if reference == BOOSTER:
        booster = model
    else:
        if not model.__sklearn_is_fitted__():
            raise ValidationError("model is not fitted yet: call fit first", field="model")
        state = _wrapper_state(model, reference)
        booster = model.booster_
    signature = example_signature(model.predict, input_example)
    with staged_directory(path) as staging:
        booster.save_model(str(staging / _PAYLOAD))
        return finish_directory(
            staging,
            flavor=FLAVOR,
            serialization=SERIALIZATION,
            payload=_PAYLOAD,
            reference=reference,
            state=state,
            signature=signature,
            input_example=input_example,
            libraries=("lightgbm", "numpy", "pandas", "scikit-learn"),
        )


def _wrapper_state(model: Any, reference: str) -> dict[str, Any]:
    # ``_objective`` is the objective fit resolved (``binary`` for objective=None...); the
    # wrapper's predict and predict_proba read it.
    objective = getattr(model, "_objective", None)
    refuse_custom_objective(model, model.objective)
    refuse_custom_objective(model, objective)
    state = wrapper_state(model.get_params(deep=False))
    state["objective"] = objective
    # The public sign that fit saw column names: LightGBM then warns on arrays without them.
    state["fitted_with_feature_names"] = hasattr(model, "feature_names_in_")
    if reference == CLASSIFIER:
        state.update(encode_classes(model.classes_))
    return state


def load_lightgbm(model_dir: str | Path, metadata: ModelMetadata, *, model: str = "") -> Any:
    """The Booster or wrapper in a model directory (no code runs: the file is text)."""
    model = model or str(model_dir)
    lgb = import_library("lightgbm", f"loading model {model} (a LightGBM model)", "model_uri")
    root = Path(model_dir)
    payload = resolve_inside(root, str(metadata.data), "mloop-model.json.data")
    reference = metadata.model_class or BOOSTER
    if reference not in MODEL_CLASSES[FLAVOR]:
        raise ValidationError(
            f"model {model}: model_class {reference!r} is not one of "
            f"{', '.join(MODEL_CLASSES[FLAVOR])}",
            field="mloop-model.json.model_class",
        )
    try:
        booster = lgb.Booster(model_file=str(payload))
    except Exception as exc:  # LightGBMError, or a bad JSON line at the end of the text
        raise ValidationError(
            f"model {model}: {metadata.data} is not a model file LightGBM can read: "
            f"{type(exc).__name__}: {exc}",
            field="mloop-model.json.data",
        ) from None
    if reference == BOOSTER:
        return booster
    return _restore(getattr(lgb, reference.split(":", 1)[1]), booster, read_wrapper(root))


def _restore(cls: type, booster: Any, state: dict[str, Any]) -> Any:
    """The fitted wrapper around ``booster``: what ``fit`` would have set on it.

    LightGBM has no public way to wrap a trained Booster, so this sets the attributes its
    ``fit`` sets (LightGBM 4); the tests compare every prediction with the saved model's.
    """
    where = "estimator.json"
    objective = state.get("objective")
    if not isinstance(objective, str) or not objective:
        raise ValidationError(
            f"{where}.objective must be the name of a LightGBM objective",
            field=f"{where}.objective",
        )
    try:
        estimator = cls(**wrapper_params(state))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where}.params: {exc}", field=f"{where}.params") from None
    width = booster.num_feature()
    estimator._Booster = booster
    estimator._n_features = width
    estimator._n_features_in = width
    estimator._fitted_with_feature_names = state.get("fitted_with_feature_names") is True
    estimator._objective = objective
    estimator._best_iteration = booster.best_iteration
    estimator._best_score = {}
    estimator._evals_result = {}
    if hasattr(cls, "classes_"):  # a classifier
        from sklearn.preprocessing import LabelEncoder

        classes = decode_classes(state.get("classes"), state.get("classes_dtype"))
        trees_per_round = booster.num_model_per_iteration()
        if trees_per_round != (len(classes) if len(classes) > 2 else 1):
            raise ValidationError(
                f"{where} lists {len(classes)} classes, but the booster grows "
                f"{trees_per_round} trees per round",
                field=f"{where}.classes",
            )
        encoder = LabelEncoder()
        encoder.classes_ = classes
        estimator._le = encoder
        estimator._classes = classes
        estimator._n_classes = len(classes)
        estimator._class_map = {label: i for i, label in enumerate(classes.tolist())}
    estimator.fitted_ = True
    return estimator
