"""The domains the server mounts: their operations and their extra HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from mloop.core.operations import Operation
from mloop.store.runtime import Runtime


def all_operations() -> list[Operation[Any, Any]]:
    """Every declared operation of every domain."""
    import mloop.datasets
    import mloop.prompts
    import mloop.registry
    import mloop.tracking

    ops: list[Operation[Any, Any]] = []
    for op_set in (
        mloop.tracking.operations,
        mloop.registry.operations,
        mloop.datasets.operations,
        mloop.prompts.operations,
    ):
        ops.extend(op_set.operations.values())
    return ops


def extra_routers(runtime: Runtime, require: Callable[..., Any]) -> list[APIRouter]:
    """Routes that are not plain operations (file transfer)."""
    from mloop.compat.mlflow import (
        mlflow_artifacts_router,
        mlflow_logged_models_router,
        mlflow_registry_router,
        mlflow_tracking_router,
    )
    from mloop.datasets.http import dataset_files_router
    from mloop.registry.http import model_files_router
    from mloop.tracking.http import artifact_router

    return [
        artifact_router(runtime, require),
        model_files_router(runtime, require),
        dataset_files_router(runtime, require),
        mlflow_tracking_router(runtime, require),
        mlflow_artifacts_router(runtime, require),
        mlflow_logged_models_router(runtime, require),
        mlflow_registry_router(runtime, require),
    ]
