"""The tracking domain's file transfers: one run artifact file up or down, streamed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO

from mloop.core import fields as f
from mloop.core.files import FileRoute
from mloop.store.context import Context
from mloop.store.runtime import Runtime
from mloop.tracking.artifacts import open_artifact, store_artifact
from mloop.tracking.schemas import ArtifactFile


def _upload(
    runtime: Runtime, params: Mapping[str, str], source: Path, actor: str | None, _limit: int
) -> ArtifactFile:
    run_id, path = params["run_id"], params["path"]
    return runtime.run(
        lambda ctx: store_artifact(ctx, run_id, path, source), write=True, actor=actor
    )


def _download(ctx: Context, params: Mapping[str, str]) -> IO[bytes]:
    return open_artifact(ctx, params["run_id"], params["path"])


UPLOAD_ARTIFACT = FileRoute(
    name="upload_artifact",
    method="PUT",
    path="/api/v1/artifacts/files/{run_id}/{path:path}",
    handler=_upload,
    role="writer",
    summary="Upload an artifact file",
    tag="tracking",
    response=ArtifactFile,
    param_types={"run_id": f.Id, "path": f.FilePath},
)
DOWNLOAD_ARTIFACT = FileRoute(
    name="download_artifact",
    method="GET",
    path="/api/v1/artifacts/files/{run_id}/{path:path}",
    handler=_download,
    summary="Download an artifact file",
    tag="tracking",
    param_types={"run_id": f.Id, "path": f.FilePath},
)
FILE_ROUTES = (UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT)
