"""The public SDK: one API whether the store is embedded or behind a server.

Names load on first use (see :mod:`mloop.core.lazy`), so ``import mloop`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

_DATASETS = "mloop.client.datasets_fluent"
_FLUENT = "mloop.client.fluent"
_PROMPTS = "mloop.client.prompts_fluent"
_REGISTRY = "mloop.client.registry_fluent"

EXPORTS: dict[str, str] = {
    "Client": "mloop.client.client",
    "get_tracking_uri": "mloop.client.connection",
    "set_tracking_uri": "mloop.client.connection",
    "DatasetVersion": _DATASETS,
    "delete_dataset_alias": _DATASETS,
    "get_dataset": _DATASETS,
    "register_dataset": _DATASETS,
    "set_dataset_alias": _DATASETS,
    "set_dataset_policy": _DATASETS,
    "validate_dataset": _DATASETS,
    "Metric": "mloop.client.entities",
    "Param": "mloop.client.entities",
    "RunTag": "mloop.client.entities",
    "ActiveRun": _FLUENT,
    "active_run": _FLUENT,
    "delete_tag": _FLUENT,
    "end_run": _FLUENT,
    "flush": _FLUENT,
    "log_artifact": _FLUENT,
    "log_artifacts": _FLUENT,
    "log_dict": _FLUENT,
    "log_input": _FLUENT,
    "log_metric": _FLUENT,
    "log_metrics": _FLUENT,
    "log_param": _FLUENT,
    "log_params": _FLUENT,
    "log_text": _FLUENT,
    "search_runs": _FLUENT,
    "set_experiment": _FLUENT,
    "set_tag": _FLUENT,
    "set_tags": _FLUENT,
    "start_run": _FLUENT,
    "Prompt": _PROMPTS,
    "get_prompt": _PROMPTS,
    "register_prompt": _PROMPTS,
    "set_prompt_label": _PROMPTS,
    "delete_alias": _REGISTRY,
    "get_model_version_by_alias": _REGISTRY,
    "load_model": _REGISTRY,
    "register_model": _REGISTRY,
    "set_alias": _REGISTRY,
    "PythonModel": "mloop.models.python_model",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.client.client import Client
    from mloop.client.connection import get_tracking_uri, set_tracking_uri
    from mloop.client.datasets_fluent import (
        DatasetVersion,
        delete_dataset_alias,
        get_dataset,
        register_dataset,
        set_dataset_alias,
        set_dataset_policy,
        validate_dataset,
    )
    from mloop.client.entities import Metric, Param, RunTag
    from mloop.client.fluent import (
        ActiveRun,
        active_run,
        delete_tag,
        end_run,
        flush,
        log_artifact,
        log_artifacts,
        log_dict,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )
    from mloop.client.prompts_fluent import Prompt, get_prompt, register_prompt, set_prompt_label
    from mloop.client.registry_fluent import (
        delete_alias,
        get_model_version_by_alias,
        load_model,
        register_model,
        set_alias,
    )
    from mloop.models.python_model import PythonModel
