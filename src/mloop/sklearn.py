"""scikit-learn models in MLflow's style::

    with mloop.start_run():
        model = LogisticRegression().fit(X, y)
        mloop.sklearn.log_model(model, "model", input_example=X[:5], registered_model_name="churn")
    model = mloop.sklearn.load_model("models:/churn@champion")

Models are saved with skops (no code runs at load time); ``serialization="pickle"`` needs
``trusted=True``. Loading refuses types skops does not trust until they are named in
``trusted`` (or ``trusted=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mloop.client.registry_fluent import ModelInfo, Trusted, log_model_dir
from mloop.client.registry_fluent import load_model as _load_any
from mloop.core.errors import ValidationError
from mloop.models import sklearn_model
from mloop.models.sklearn_model import save_model

__all__ = ["ModelInfo", "load_model", "log_model", "save_model"]


def log_model(
    model: Any,
    artifact_path: str = "model",
    input_example: Any = None,
    registered_model_name: str | None = None,
    trusted: bool = False,
    serialization: Literal["skops", "pickle"] = "skops",
) -> ModelInfo:
    """Log an estimator into the active run (starting one if needed); optionally register it."""
    return log_model_dir(
        lambda local: save_model(
            model, local, input_example=input_example, serialization=serialization, trusted=trusted
        ),
        artifact_path,
        registered_model_name,
    )


def load_model(model_uri: str | Path, trusted: Trusted = False) -> Any:
    """The estimator itself (use :func:`mloop.load_model` for signature-checked predict)."""
    loaded = _load_any(model_uri, trusted=trusted)
    if loaded.flavor != sklearn_model.FLAVOR:
        raise ValidationError(
            f"{model_uri} is a {loaded.flavor} model, not a scikit-learn one; load it with "
            "mloop.load_model",
            field="model_uri",
        )
    return loaded.unwrap()
