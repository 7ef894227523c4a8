"""HTTP routes of the tracking domain that are not plain operations: artifact file transfer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.core.errors import PayloadTooLargeError
from mloop.store.artifacts import iter_chunks
from mloop.store.runtime import Runtime
from mloop.tracking.artifacts import open_artifact, store_artifact

RequireFn = Callable[[Request, str], Any]


async def receive_upload(request: Request, limit: int) -> Path:
    """Stream a request body into a temporary file (the caller deletes it), up to ``limit``."""
    fd, name = tempfile.mkstemp(prefix="mloop-upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as tmp:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(
                        f"artifact exceeds the limit of {limit} bytes", field="body"
                    )
                tmp.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def artifact_router(runtime: Runtime, require: RequireFn) -> APIRouter:
    """PUT and GET of single artifact files, streamed."""
    router = APIRouter(tags=["tracking"])
    limit = runtime.settings.max_artifact_bytes

    @router.put("/api/v1/artifacts/files/{run_id}/{path:path}", summary="Upload an artifact file")
    async def upload(run_id: str, path: str, request: Request) -> Response:
        identity = await run_in_threadpool(require, request, "writer")
        tmp = await receive_upload(request, limit)
        try:
            stored = await run_in_threadpool(
                runtime.run,
                lambda ctx: store_artifact(ctx, run_id, path, tmp),
                write=True,
                actor=identity.name,
            )
        finally:
            tmp.unlink(missing_ok=True)
        return Response(stored.model_dump_json(), media_type="application/json")

    @router.get("/api/v1/artifacts/files/{run_id}/{path:path}", summary="Download an artifact file")
    async def download(run_id: str, path: str, request: Request) -> StreamingResponse:
        await run_in_threadpool(require, request, "reader")
        handle = await run_in_threadpool(
            runtime.run, lambda ctx: open_artifact(ctx, run_id, path), write=False
        )
        return StreamingResponse(iter_chunks(handle), media_type="application/octet-stream")

    return router
