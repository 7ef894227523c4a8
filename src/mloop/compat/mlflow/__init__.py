"""The MLflow REST API over mloop's stores, so the stock ``mlflow`` client works unchanged.

Runs, params, metrics and tags written through this API are ordinary mloop runs: they show up
in mloop's SDK, CLI and UI, and runs logged with mloop are visible to ``mlflow.search_runs``.
"""

from mloop.compat.mlflow.artifacts import mlflow_artifacts_router
from mloop.compat.mlflow.logged_models import mlflow_logged_models_router
from mloop.compat.mlflow.registry import mlflow_registry_router
from mloop.compat.mlflow.tracking import mlflow_tracking_router

__all__ = [
    "mlflow_artifacts_router",
    "mlflow_logged_models_router",
    "mlflow_registry_router",
    "mlflow_tracking_router",
]
