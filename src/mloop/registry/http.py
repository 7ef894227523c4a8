"""HTTP routes of the registry that are not plain operations: model file download."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.registry.files import open_model_file
from mloop.store.artifacts import iter_chunks
from mloop.store.runtime import Runtime

RequireFn = Callable[[Request, str], Any]


def model_files_router(runtime: Runtime, require: RequireFn) -> APIRouter:
    """GET of single model version files, streamed."""
    router = APIRouter(tags=["registry"])

    @router.get(
        "/api/v1/registry/model-versions/files/{name}/{version}/{path:path}",
        summary="Download a file of a model version",
    )
    async def download(name: str, version: str, path: str, request: Request) -> StreamingResponse:
        await run_in_threadpool(require, request, "reader")
        handle = await run_in_threadpool(
            runtime.run, lambda ctx: open_model_file(ctx, name, version, path), write=False
        )
        return StreamingResponse(iter_chunks(handle), media_type="application/octet-stream")

    return router
