"""XGBoost models in MLflow's style::

    with mloop.start_run():
        model = xgboost.XGBClassifier().fit(X, y)
        mloop.xgboost.log_model(model, "model", input_example=X[:5], registered_model_name="churn")
    model = mloop.xgboost.load_model("models:/churn@champion")

A Booster or a scikit-learn wrapper (``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``,
``XGBRFClassifier``, ``XGBRFRegressor``) is saved in XGBoost's own format (UBJSON by
default, ``serialization="json"`` for readable JSON), never pickled, so loading runs no code
and needs no ``trusted``; ``load_model`` returns the same kind of object. Needs
``pip install 'mloop[boosting]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mloop.client.registry_fluent import ModelInfo, log_model_dir
from mloop.client.registry_fluent import load_model as _load_any
from mloop.core.errors import ValidationError
from mloop.models import xgboost_model
from mloop.models.xgboost_model import save_model

__all__ = ["ModelInfo", "load_model", "log_model", "save_model"]


def log_model(
    model: Any,
    artifact_path: str = "model",
    input_example: Any = None,
    registered_model_name: str | None = None,
    serialization: Literal["ubj", "json"] = "ubj",
) -> ModelInfo:
    """Log a Booster or wrapper into the active run (starting one if needed); optionally
    register it."""
    return log_model_dir(
        lambda local: save_model(
            model, local, input_example=input_example, serialization=serialization
        ),
        artifact_path,
        registered_model_name,
    )


def load_model(model_uri: str | Path) -> Any:
    """The Booster or wrapper itself (use :func:`mloop.load_model` for signature-checked
    predict on DataFrames, Boosters included)."""
    loaded = _load_any(model_uri)
    if loaded.flavor != xgboost_model.FLAVOR:
        raise ValidationError(
            f"{model_uri} is a {loaded.flavor} model, not an XGBoost one; load it with "
            "mloop.load_model",
            field="model_uri",
        )
    return loaded.unwrap()
