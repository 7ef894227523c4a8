"""The registry's file transfer: one file of a model version, streamed down."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from mloop.core import fields as f
from mloop.core.files import FileRoute
from mloop.registry.files import open_model_file
from mloop.store.context import Context
from mloop.store.versions import Version


def _download(ctx: Context, params: Mapping[str, str]) -> IO[bytes]:
    return open_model_file(ctx, params["name"], params["version"], params["path"])


DOWNLOAD_MODEL_FILE = FileRoute(
    name="download_model_file",
    method="GET",
    path="/api/v1/registry/model-versions/files/{name}/{version}/{path:path}",
    handler=_download,
    summary="Download a file of a model version",
    tag="registry",
    param_types={"name": f.AssetName, "version": Version, "path": f.FilePath},
)
FILE_ROUTES = (DOWNLOAD_MODEL_FILE,)
