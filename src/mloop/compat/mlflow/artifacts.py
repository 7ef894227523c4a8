"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``) over mloop's artifact store.

Run artifact URIs handed to MLflow clients are ``mlflow-artifacts:/<run artifact root>``, so
the paths here are artifact-store paths. Uploads must land inside a run's artifact root: they
are stored through the tracking domain, which records each file's size and sha256.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.compat.mlflow.http import mlflow_error
from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.store.artifacts import clean_relative_path, iter_chunks
from mloop.store.context import Context
from mloop.store.runtime import Runtime
from mloop.tracking.artifacts import store_artifact
from mloop.tracking.http import receive_upload
from mloop.tracking.runs import load_run_row

RequireFn = Callable[[Request, str], Any]
ROOT = "/api/2.0/mlflow-artifacts/artifacts"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def split_run_path(path: str) -> tuple[str, str]:
    """``(run_id, path inside the run)`` for a store path under a run's artifact root."""
    parts = clean_relative_path(path, "path").split("/")
    for i in range(len(parts) - 2):
        if _RUN_ID.match(parts[i]) and parts[i + 1] == "artifacts":
            return parts[i], "/".join(parts[i + 2 :])
    raise ValidationError(
        f"{path!r} is not inside a run's artifact root; log artifacts into a run", field="path"
    )


def _upload(ctx: Context, path: str, local: Any) -> None:
    run_id, inside = split_run_path(path)
    row = load_run_row(ctx, run_id)
    if not clean_relative_path(path).startswith(row.artifact_uri + "/"):
        raise ValidationError(f"{path!r} is not inside run {run_id}'s artifact root", field="path")
    store_artifact(ctx, run_id, inside, local)


def _listing(ctx: Context, path: str) -> dict[str, Any]:
    rel = clean_relative_path(path, "path", allow_empty=True)
    entries = ctx.artifacts.list_dir(rel)
    if not entries and rel and ctx.artifacts.exists(rel):
        # A file: MLflow expects a one-entry listing with its own name.
        size = ctx.artifacts.walk(rel)[0].size
        return {"files": [{"path": posixpath.basename(rel), "is_dir": False, "file_size": size}]}
    files = []
    for entry in entries:
        item: dict[str, Any] = {"path": posixpath.basename(entry.path), "is_dir": entry.is_dir}
        if not entry.is_dir:
            item["file_size"] = entry.size
        files.append(item)
    return {"files": files}


def _open(ctx: Context, path: str) -> Any:
    rel = clean_relative_path(path, "path")
    if not ctx.artifacts.exists(rel):
        raise NotFoundError(f"artifact {path!r} does not exist", field="path")
    return ctx.artifacts.open(rel)


def mlflow_artifacts_router(runtime: Runtime, require: RequireFn) -> APIRouter:
    """Upload, download and list, as MLflow's ``mlflow-artifacts`` repository calls them."""
    router = APIRouter(include_in_schema=False)
    limit = runtime.settings.max_artifact_bytes

    @router.get(ROOT)
    async def list_artifacts(request: Request) -> Response:
        try:
            await run_in_threadpool(require, request, "reader")
            path = request.query_params.get("path", "")
            body = await run_in_threadpool(
                runtime.run, lambda ctx: _listing(ctx, path), write=False
            )
        except MloopError as exc:
            return mlflow_error(exc)
        return JSONResponse(body)

    @router.put(ROOT + "/{path:path}")
    async def upload(path: str, request: Request) -> Response:
        try:
            identity = await run_in_threadpool(require, request, "writer")
            tmp = await receive_upload(request, limit)
            try:
                await run_in_threadpool(
                    runtime.run,
                    lambda ctx: _upload(ctx, path, tmp),
                    write=True,
                    actor=identity.name,
                )
            finally:
                tmp.unlink(missing_ok=True)
        except MloopError as exc:
            return mlflow_error(exc)
        return JSONResponse({})

    @router.get(ROOT + "/{path:path}")
    async def download(path: str, request: Request) -> Response:
        try:
            await run_in_threadpool(require, request, "reader")
            handle = await run_in_threadpool(runtime.run, lambda ctx: _open(ctx, path), write=False)
        except MloopError as exc:
            return mlflow_error(exc)
        return StreamingResponse(iter_chunks(handle), media_type="application/octet-stream")

    return router
