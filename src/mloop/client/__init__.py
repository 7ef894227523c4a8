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
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)

__all__ = [
    "ActiveRun",
    "Client",
    "Metric",
    "Param",
    "RunTag",
    "active_run",
    "delete_tag",
    "end_run",
    "flush",
    "get_tracking_uri",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
