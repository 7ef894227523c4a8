"""Running the ``mlflow`` package inside mloop's own process (the importer, the demo).

MLflow keeps process-wide state (environment variables, a global tracking URI, loggers);
:func:`mlflow_environment` points it at one URI for the duration and puts everything back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from mloop.core.errors import MloopError

INSTALL_HINT = "pip install 'mloop[mlflow]'"


def require_mlflow(purpose: str) -> None:
    """Raise a clear error when the ``mlflow`` package is not installed."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise MloopError(f"{purpose} needs the mlflow package: {INSTALL_HINT}") from None


@contextmanager
def mlflow_environment(uri: str) -> Iterator[None]:
    """MLflow set up for ``uri``: no telemetry, no run URLs printed, its INFO logs quiet.

    MLflow 3 refuses to open a file store unless told to; reading one to move away from it is
    what the opt-out is for. Its file registry looks logged models up through the process-wide
    tracking URI (not the client's), so that points at ``uri`` too; without it MLflow would
    create ``./mlflow.db``.
    """
    require_mlflow("this")
    overrides = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
    }
    if uri.startswith("file:"):
        overrides["MLFLOW_ALLOW_FILE_STORE"] = "true"
    # set_experiment writes MLFLOW_EXPERIMENT_ID; it is put back with the rest.
    saved = {name: os.environ.get(name) for name in (*overrides, "MLFLOW_EXPERIMENT_ID")}
    os.environ.update(overrides)
    try:
        with _global_tracking_uri(uri), _quiet_mlflow_logs():
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    try:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri
    except ImportError:  # moved in a later MLflow: MLFLOW_TRACKING_URI has to do
        yield
        return
    with _use_tracking_uri(uri):
        yield


@contextmanager
def _quiet_mlflow_logs() -> Iterator[None]:
    """MLflow's INFO lines (one per empty artifact folder) would break progress bars."""
    logger = logging.getLogger("mlflow")  # configured when mlflow is imported, so after that
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
