"""MLflow's download routes beside its REST API: ``/get-artifact`` (a run's file) and
``/model-versions/get-artifact`` (a registered version's file).

MLflow's UI and scripts written against an MLflow server fetch files this way; the paths
are checked as MLflow checks them, and errors are in MLflow's shape.
"""

from __future__ import annotations

from typing import IO, Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Authenticator
from mloop.compat.mlflow.http import artifact_subpath, integer, text
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.http import Route
from mloop.registry.files import open_model_file
from mloop.store.artifacts import iter_chunks
from mloop.store.context import Context
from mloop.store.runtime import Runtime
from mloop.tracking.artifacts import run_artifact_path

RUN_FILE = "/get-artifact"
VERSION_FILE = "/model-versions/get-artifact"


def _file_path(body: dict[str, Any]) -> str:
    path = artifact_subpath(body, "path")
    if not path:
        raise ValidationError("Missing value for required parameter 'path'.", field="path")
    return path


def _open_run_file(ctx: Context, body: dict[str, Any]) -> IO[bytes]:
    path = _file_path(body)
    run_id = text(body, "run_id", required=False) or text(body, "run_uuid") or ""
    location = run_artifact_path(ctx, run_id, path)
    if not ctx.artifacts.exists(location) or ctx.artifacts.list_dir(location):
        raise NotFoundError(f"run {run_id} has no artifact file {path!r}", field="path")
    return ctx.artifacts.open(location)


def _open_version_file(ctx: Context, body: dict[str, Any]) -> IO[bytes]:
    path = _file_path(body)
    name = text(body, "name") or ""
    version = integer(body, "version", minimum=1)
    return open_model_file(ctx, name, version or 0, path)


def download_routes(runtime: Runtime, auth: Authenticator) -> list[Route]:
    def route(path: str, opener: Any) -> Route:
        async def download(request: Request) -> Response:
            await run_in_threadpool(auth.require, request, "reader")
            body = dict(request.query_params)
            handle = await run_in_threadpool(
                runtime.run, lambda ctx: opener(ctx, body), write=False
            )
            return StreamingResponse(iter_chunks(handle), media_type="application/octet-stream")

        return Route("GET", path, download, "reader", name=f"mlflow{path}", is_async=True)

    return [route(RUN_FILE, _open_run_file), route(VERSION_FILE, _open_version_file)]
