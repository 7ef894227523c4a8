"""The MLflow REST API as one surface of the server's dispatcher."""

from __future__ import annotations

from mloop.compat.mlflow import logged_models, registry, tracking
from mloop.compat.mlflow.artifacts import artifact_routes
from mloop.compat.mlflow.http import mlflow_surface
from mloop.core.http import ServerParts, Surface


def mlflow_http(server: ServerParts) -> list[Surface]:
    """Tracking, registry, logged models and the artifact repository."""
    endpoints = [*tracking.ENDPOINTS, *registry.ENDPOINTS, *logged_models.ENDPOINTS]
    extra = artifact_routes(server.runtime, server.auth)
    return [mlflow_surface(server.runtime, server.auth, endpoints, extra)]
