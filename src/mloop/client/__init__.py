"""The public SDK: one API whether the store is embedded or behind a server."""

from mloop.client.client import Client
from mloop.client.connection import get_tracking_uri, set_tracking_uri
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
from mloop.client.registry_fluent import (
    delete_alias,
    get_model_version_by_alias,
    load_model,
    register_model,
    set_alias,
)
from mloop.models.python_model import PythonModel

__all__ = [
    "ActiveRun",
    "Client",
    "Metric",
    "Param",
    "PythonModel",
    "RunTag",
    "active_run",
    "delete_alias",
    "delete_tag",
    "end_run",
    "flush",
    "get_model_version_by_alias",
    "get_tracking_uri",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
