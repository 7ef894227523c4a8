"""The MLflow REST API as one surface of the server's dispatcher."""

from __future__ import annotations

import dataclasses

from mloop.compat.mlflow import errors, logged_models, registry, tracking
from mloop.compat.mlflow.artifacts import artifact_routes
from mloop.compat.mlflow.downloads import download_routes
from mloop.compat.mlflow.http import mlflow_surface
from mloop.compat.mlflow.server_info import server_info_routes
from mloop.core.http import ServerParts, Surface


def mlflow_http(server: ServerParts) -> list[Surface]:
    """Tracking, registry, logged models and the artifact repository, and MLflow's error
    shape for every path under MLflow's prefixes, unknown endpoints included."""
    endpoints = [*tracking.ENDPOINTS, *registry.ENDPOINTS, *logged_models.ENDPOINTS]
    extra = [
        *artifact_routes(server.runtime, server.auth),
        *download_routes(server.runtime, server.auth),
        *server_info_routes(server.auth),
    ]
    surface = mlflow_surface(server.runtime, server.auth, endpoints, extra)
    return [
        dataclasses.replace(
            surface,
            error=errors.mlflow_error,
            method_not_allowed=errors.method_not_allowed,
            prefixes=errors.PREFIXES,
            not_found=errors.endpoint_not_found,
        )
    ]
