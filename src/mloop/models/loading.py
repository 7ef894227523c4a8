"""Loading a local model directory of any flavor into a :class:`LoadedModel`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.models.metadata import MODEL_FILE, ModelMetadata, read_metadata, resolve_inside
from mloop.models.mlflow_format import (
    MLFLOW_FLAVOR,
    is_mlflow_model_dir,
    load_mlflow_pyfunc,
    read_mlmodel,
)
from mloop.models.signature import enforce_schema, load_input_example


class LoadedModel:
    """A model ready to predict, whatever its flavor.

    ``predict`` checks the input against the signature first (when the model has one) and
    raises :class:`~mloop.core.errors.ValidationError` naming a missing column or key.
    """

    def __init__(self, path: Path, metadata: ModelMetadata, model: Any, uri: str = "") -> None:
        self.path = path
        self.metadata = metadata
        self.uri = uri or str(path)
        self._model = model
        self._predicting = predicting(model)

    @property
    def flavor(self) -> str:
        return self.metadata.flavor

    @property
    def signature(self) -> dict[str, Any] | None:
        return self.metadata.signature

    @property
    def input_example(self) -> Any:
        """The example saved with the model, or None."""
        if self.metadata.input_example is None:
            return None
        where = "mloop-model.json.input_example"
        return load_input_example(resolve_inside(self.path, self.metadata.input_example, where))

    def unwrap(self) -> Any:
        """The underlying object (the estimator, or the PythonModel instance)."""
        return self._model

    def _checked(self, model_input: Any) -> Any:
        return enforce_schema((self.metadata.signature or {}).get("inputs"), model_input)

    def predict(self, model_input: Any) -> Any:
        return self._predicting.predict(self._checked(model_input))

    @property
    def predict_proba(self) -> Callable[[Any], Any]:
        """The model's ``predict_proba`` with the same input checks (classifiers only)."""
        method = getattr(self._predicting, "predict_proba", None)
        if not callable(method):
            raise AttributeError(f"this {self.flavor} model has no predict_proba")
        return lambda model_input: method(self._checked(model_input))

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, uri={self.uri!r})"


def predicting(model: Any) -> Any:
    """What predicts for ``model`` on a DataFrame or an array: the model itself, or for an
    XGBoost Booster, whose own ``predict`` takes a DMatrix, an adapter."""
    from mloop.models.xgboost_model import BoosterPredictor, is_booster

    return BoosterPredictor(model) if is_booster(model) else model


def load_model_dir(
    path: str | Path, *, trusted: bool | Sequence[str] = False, uri: str = ""
) -> LoadedModel:
    """Load a local model directory.

    ``trusted``: ``True`` accepts every type in a skops file, allows pickle payloads and runs
    the code of Python models (and MLflow pyfunc models); a list of type names accepts just
    those skops types. Anything that would run code is refused, before any of it runs, unless
    ``trusted`` is ``True``; ``uri`` names the model in that refusal. LightGBM and XGBoost
    models run no code when loaded and need no ``trusted``.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValidationError(f"{root} is not a model directory", field="model_uri")
    name = uri or str(root)
    if not (root / MODEL_FILE).is_file() and is_mlflow_model_dir(root):
        return _load_mlflow_dir(root, trusted, name)
    metadata = read_metadata(root)
    if metadata.flavor == "pyfunc":
        from mloop.models.python_model import load_python_model

        model = load_python_model(root, metadata, trusted=trusted, model=name)
    else:
        model = _load_native(root, metadata, trusted, name, mlflow=False)
    return LoadedModel(root, metadata, model, uri=uri)


def _load_native(
    root: Path, metadata: ModelMetadata, trusted: bool | Sequence[str], name: str, *, mlflow: bool
) -> Any:
    """A model of a flavor mloop reads itself. LightGBM's and XGBoost's files are data
    only, so ``trusted`` does not apply to them."""
    if metadata.flavor == "lightgbm":
        from mloop.models.lightgbm_model import load_lightgbm

        return load_lightgbm(root, metadata, model=name)
    if metadata.flavor == "xgboost":
        from mloop.models.xgboost_model import load_xgboost

        return load_xgboost(root, metadata, model=name, mlflow=mlflow)
    from mloop.models.sklearn_model import load_estimator

    return load_estimator(root, metadata, trusted, model=name)


class _MlflowPyfuncModel(LoadedModel):
    """An MLflow pyfunc model: MLflow's own predict enforces its signature."""

    def _checked(self, model_input: Any) -> Any:
        return model_input


def _load_mlflow_dir(root: Path, trusted: bool | Sequence[str], name: str) -> LoadedModel:
    metadata = read_mlmodel(root)
    if metadata.flavor == MLFLOW_FLAVOR:
        model = load_mlflow_pyfunc(root, metadata, trusted, model=name)
        return _MlflowPyfuncModel(root, metadata, model, name)
    model = _load_native(root, metadata, trusted, name, mlflow=True)
    return LoadedModel(root, metadata, model, name)
