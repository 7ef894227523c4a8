"""HTTP routes of the datasets domain that are not plain operations: the upload of a
version's Parquet file (checked against its digest) and its download, both streamed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mloop.core.errors import PayloadTooLargeError
from mloop.datasets.checks import check_dataset_name, check_digest
from mloop.datasets.files import accept_upload, open_version_file
from mloop.store.artifacts import iter_chunks
from mloop.store.runtime import Runtime
from mloop.tracking.http import receive_upload

RequireFn = Callable[[Request, str], Any]

UPLOAD_PREFIX = "/api/v1/datasets/uploads/"
FILES_PREFIX = "/api/v1/datasets/files/"


def dataset_files_router(runtime: Runtime, require: RequireFn) -> APIRouter:
    """PUT of a version's Parquet file before the version is created; GET of a version's."""
    router = APIRouter(tags=["datasets"])
    limit = runtime.settings.max_artifact_bytes

    @router.put(
        UPLOAD_PREFIX + "{name}/{digest}",
        summary="Upload the Parquet file of a new dataset version; its sha256 must be digest",
    )
    async def upload(name: str, digest: str, request: Request) -> Response:
        identity = await run_in_threadpool(require, request, "writer")
        check_dataset_name(name)
        check_digest(digest)
        try:
            tmp = await receive_upload(request, limit)
        except PayloadTooLargeError:
            raise PayloadTooLargeError(
                f"the dataset file exceeds the server's limit of {limit} bytes "
                "(MLOOP_MAX_ARTIFACT_BYTES)",
                field="body",
            ) from None
        try:

            def store() -> Any:
                with open(tmp, "rb") as handle:
                    return accept_upload(
                        runtime, name, digest, handle, max_bytes=limit, actor=identity.name
                    )

            stored = await run_in_threadpool(store)
        finally:
            tmp.unlink(missing_ok=True)
        return Response(stored.model_dump_json(), media_type="application/json")

    @router.get(FILES_PREFIX + "{name}/{version}", summary="Download a dataset version's Parquet")
    async def download(name: str, version: str, request: Request) -> StreamingResponse:
        await run_in_threadpool(require, request, "reader")
        handle = await run_in_threadpool(
            runtime.run, lambda ctx: open_version_file(ctx, name, version), write=False
        )
        return StreamingResponse(iter_chunks(handle), media_type="application/vnd.apache.parquet")

    return router
