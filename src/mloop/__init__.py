"""mloop: the whole MLOps and LLMOps loop in one install.

``import mloop`` gives the SDK in MLflow's style::

    import mloop
    mloop.set_experiment("churn")
    with mloop.start_run():
        mloop.log_param("model", "lgbm")
        mloop.log_metric("auc", 0.91, step=1)

Every name loads on first use, so that ``import mloop`` and every CLI command stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.client import EXPORTS as _CLIENT_EXPORTS
from mloop.core.lazy import lazy_exports

__version__ = "0.1.0"

# Flavor modules (and the feature store, ``mloop.features``) load on first use
# (``mloop.sklearn.log_model``), as in MLflow, and need
# their library (scikit-learn, LightGBM, XGBoost) only then.
_EXPORTS: dict[str, str] = {name: "mloop.client" for name in _CLIENT_EXPORTS}
__all__ = [*sorted(_CLIENT_EXPORTS), "__version__"]
_get_export, __dir__ = lazy_exports(__name__, _EXPORTS)
_LAZY_SUBMODULES = frozenset(
    {
        "sklearn",
        "pyfunc",
        "lightgbm",
        "xgboost",
        "features",
        "review",
        "evals",
        "pipelines",
        "automation",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"mloop.{name}")
    return _get_export(name)


if TYPE_CHECKING:
    from mloop.client import (
        ActiveRun,
        Client,
        DatasetVersion,
        Metric,
        Param,
        Prompt,
        PythonModel,
        RunTag,
        active_run,
        delete_alias,
        delete_dataset_alias,
        delete_tag,
        end_run,
        flush,
        get_dataset,
        get_model_version_by_alias,
        get_prompt,
        get_tracking_uri,
        load_model,
        log_artifact,
        log_artifacts,
        log_dict,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        register_dataset,
        register_model,
        register_prompt,
        search_runs,
        set_alias,
        set_dataset_alias,
        set_dataset_policy,
        set_experiment,
        set_prompt_label,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
        validate_dataset,
    )
