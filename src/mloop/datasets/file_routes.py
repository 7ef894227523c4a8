"""The datasets domain's file transfers: a version's Parquet file up (checked against its
digest, before the version is created) and down, streamed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO

from mloop.core import fields as f
from mloop.core.files import FileRoute
from mloop.datasets.checks import check_dataset_name, check_digest
from mloop.datasets.files import accept_upload, open_version_file
from mloop.datasets.schemas import DatasetUpload
from mloop.store.context import Context
from mloop.store.runtime import Runtime
from mloop.store.versions import Version


def _check(params: Mapping[str, str]) -> None:
    check_dataset_name(params["name"])
    check_digest(params["digest"])


def _upload(
    runtime: Runtime, params: Mapping[str, str], source: Path, actor: str | None, limit: int
) -> DatasetUpload:
    with open(source, "rb") as handle:
        return accept_upload(
            runtime, params["name"], params["digest"], handle, max_bytes=limit, actor=actor
        )


def _download(ctx: Context, params: Mapping[str, str]) -> IO[bytes]:
    return open_version_file(ctx, params["name"], params["version"])


UPLOAD_DATASET_FILE = FileRoute(
    name="upload_dataset_file",
    method="PUT",
    path="/api/v1/datasets/uploads/{name}/{digest}",
    handler=_upload,
    role="writer",
    summary="Upload the Parquet file of a new dataset version; its sha256 must be digest",
    tag="datasets",
    response=DatasetUpload,
    check=_check,
    param_types={"name": f.AssetName, "digest": f.Digest},
    too_large="the dataset file exceeds the server's limit of {limit} bytes "
    "(MLOOP_MAX_ARTIFACT_BYTES)",
)
DOWNLOAD_DATASET_FILE = FileRoute(
    name="download_dataset_file",
    method="GET",
    path="/api/v1/datasets/files/{name}/{version}",
    handler=_download,
    summary="Download a dataset version's Parquet",
    tag="datasets",
    media_type="application/vnd.apache.parquet",
    param_types={"name": f.AssetName, "version": Version},
)
FILE_ROUTES = (UPLOAD_DATASET_FILE, DOWNLOAD_DATASET_FILE)
