"""LightGBM models in MLflow's style::

    with mloop.start_run():
        model = lightgbm.LGBMClassifier().fit(X, y)
        mloop.lightgbm.log_model(model, "model", input_example=X[:5], registered_model_name="churn")
    model = mloop.lightgbm.load_model("models:/churn@champion")

A Booster or a scikit-learn wrapper (``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``)
is saved in LightGBM's own model text file, never pickled, so loading runs no code and
needs no ``trusted``; ``load_model`` returns the same kind of object, a classifier with its
``classes_``. Needs ``pip install 'mloop[boosting]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.client.registry_fluent import ModelInfo, log_model_dir
from mloop.client.registry_fluent import load_model as _load_any
from mloop.core.errors import ValidationError
from mloop.models import lightgbm_model
from mloop.models.lightgbm_model import save_model

__all__ = ["ModelInfo", "load_model", "log_model", "save_model"]


def log_model(
    model: Any,
    artifact_path: str = "model",
    input_example: Any = None,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Log a Booster or wrapper into the active run (starting one if needed); optionally
    register it."""
    return log_model_dir(
        lambda local: save_model(model, local, input_example=input_example),
        artifact_path,
        registered_model_name,
    )


def load_model(model_uri: str | Path) -> Any:
    """The Booster or wrapper itself (use :func:`mloop.load_model` for signature-checked
    predict)."""
    loaded = _load_any(model_uri)
    if loaded.flavor != lightgbm_model.FLAVOR:
        raise ValidationError(
            f"{model_uri} is a {loaded.flavor} model, not a LightGBM one; load it with "
            "mloop.load_model",
            field="model_uri",
        )
    return loaded.unwrap()
