"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``) over mloop's artifact store.

Run artifact URIs handed to MLflow clients are ``mlflow-artifacts:/<run artifact root>``, so
the paths here are artifact-store paths. Uploads must land inside a run's artifact root (they
are stored through the tracking domain, which records each file's size and sha256) or inside
the root of a logged model created outside a run, ``<experiment root>/models/<model_id>/
artifacts``, while that model exists, is not deleted and is pending or ready.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Authenticator
from mloop.compat.mlflow.logged_models import MODELS_FOLDER, upload_root
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.http import Route, receive_upload
from mloop.store.artifacts import clean_relative_path, iter_chunks
from mloop.store.context import Context
from mloop.store.runtime import Runtime
from mloop.tracking.artifacts import store_artifact
from mloop.tracking.runs import load_run_row

ROOT = "/api/2.0/mlflow-artifacts/artifacts"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def _run_root_at(parts: list[str]) -> int | None:
    """The index of the first ``<run_id>/artifacts`` pair with something below it."""
    for i in range(len(parts) - 2):
        if _RUN_ID.match(parts[i]) and parts[i + 1] == "artifacts":
            return i
    return None


def _model_root_at(parts: list[str]) -> int | None:
    """The index of the first ``models/<model_id>/artifacts`` with something below it."""
    for i in range(len(parts) - 3):
        if (
            parts[i] == MODELS_FOLDER
            and _MODEL_ID.match(parts[i + 1])
            and parts[i + 2] == "artifacts"
        ):
            return i
    return None


def split_run_path(path: str) -> tuple[str, str]:
    """``(run_id, path inside the run)`` for a store path under a run's artifact root."""
    parts = clean_relative_path(path, "path").split("/")
    i = _run_root_at(parts)
    if i is None:
        raise ValidationError(
            f"{path!r} is not inside a run's or a logged model's artifact root", field="path"
        )
    return parts[i], "/".join(parts[i + 2 :])


def _upload(ctx: Context, path: str, local: Any) -> None:
    rel = clean_relative_path(path)
    parts = rel.split("/")
    run_at, model_at = _run_root_at(parts), _model_root_at(parts)
    # The outermost root wins: a run may hold a folder that looks like a model root.
    if model_at is not None and (run_at is None or model_at < run_at):
        model_id = parts[model_at + 1]
        root = upload_root(ctx, model_id)
        if not rel.startswith(root + "/"):
            raise ValidationError(
                f"{path!r} is not inside logged model {model_id}'s artifact root", field="path"
            )
        with open(local, "rb") as handle:
            ctx.artifacts.put_stream(rel, handle)
        return
    run_id, inside = split_run_path(path)
    row = load_run_row(ctx, run_id)
    if not rel.startswith(row.artifact_uri + "/"):
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


def artifact_routes(runtime: Runtime, auth: Authenticator) -> list[Route]:
    """Upload, download and list, as MLflow's ``mlflow-artifacts`` repository calls them."""
    limit = runtime.settings.max_artifact_bytes

    def list_artifacts(request: Request, _body: bytes) -> Response:
        auth.require(request, "reader")
        path = request.query_params.get("path", "")
        return JSONResponse(runtime.run(lambda ctx: _listing(ctx, path), write=False))

    async def upload(request: Request) -> Response:
        path = request.path_params["path"]
        identity = await run_in_threadpool(auth.require, request, "writer")
        tmp = await receive_upload(request, limit)
        try:
            await run_in_threadpool(
                runtime.run, lambda ctx: _upload(ctx, path, tmp), write=True, actor=identity.name
            )
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse({})

    async def download(request: Request) -> Response:
        path = request.path_params["path"]
        await run_in_threadpool(auth.require, request, "reader")
        handle = await run_in_threadpool(runtime.run, lambda ctx: _open(ctx, path), write=False)
        return StreamingResponse(iter_chunks(handle), media_type="application/octet-stream")

    return [
        Route("GET", ROOT, list_artifacts, "reader", name="mlflow-artifacts:list"),
        Route(
            "PUT",
            ROOT + "/{path:path}",
            upload,
            "writer",
            name="mlflow-artifacts:upload",
            is_async=True,
            large_body=True,
        ),
        Route(
            "GET",
            ROOT + "/{path:path}",
            download,
            "reader",
            name="mlflow-artifacts:download",
            is_async=True,
        ),
    ]
