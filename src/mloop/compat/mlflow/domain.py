"""The MLflow-compatible REST API's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="mlflow",
    summary="MLflow's REST API over mloop's stores",
    tables=("mloop.compat.mlflow.tables",),
    http=("mloop.compat.mlflow.surface:mlflow_http",),
    pages=("mloop.server.ui.logged_models",),
)
