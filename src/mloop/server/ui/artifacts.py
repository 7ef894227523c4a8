"""The artifact browser: directory listings, inline previews and downloads.

Text files up to :data:`PREVIEW_LIMIT` bytes are shown inline (escaped); common raster
images are shown as images; everything else is offered for download. Downloads are always
sent as attachments (``application/octet-stream``), so an HTML or SVG artifact can never
run as a page of this server.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from mloop.core.errors import NotFoundError
from mloop.server.ui.core import UI
from mloop.server.ui.params import checked_run_id
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context
from mloop.tracking.artifacts import list_artifacts, open_artifact
from mloop.tracking.experiments import get_experiment
from mloop.tracking.runs import get_run
from mloop.tracking.schemas import ArtifactFile, ExperimentId, ListArtifacts, RunId

PREVIEW_LIMIT = 1024 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_CHUNK = 256 * 1024


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) for each directory level of ``path``."""
    parts = [p for p in path.split("/") if p]
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


def _read_preview(handle: IO[bytes]) -> tuple[str | None, str]:
    """(text, reason): the text to show, or None and why it is not shown."""
    with handle:
        data = handle.read(PREVIEW_LIMIT + 1)
    if len(data) > PREVIEW_LIMIT:
        return None, "larger than 1 MiB: download it to view"
    if b"\x00" in data:
        return None, "binary file: download it to view"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text: download it to view"


def _find(ctx: Context, run_id: str, path: str) -> ArtifactFile:
    parent = posixpath.dirname(path)
    for entry in list_artifacts(ctx, ListArtifacts(run_id=run_id, path=parent)).files:
        if entry.path == path:
            return entry
    raise NotFoundError(f"artifact {path!r} does not exist in run {run_id}", field="path")


def _view(ctx: Context, run_id: str, raw_path: str) -> dict[str, Any]:
    run = get_run(ctx, RunId(run_id=run_id))
    path = clean_relative_path(raw_path, allow_empty=True)
    view: dict[str, Any] = {
        "run": run,
        "experiment": get_experiment(ctx, ExperimentId(experiment_id=run.info.experiment_id)),
        "path": path,
        "crumbs": breadcrumbs(path),
        "entry": None,
        "entries": [],
        "preview": None,
        "preview_reason": "",
        "image": False,
    }
    entry = _find(ctx, run_id, path) if path else None
    if entry is None or entry.is_dir:
        view["entries"] = list_artifacts(ctx, ListArtifacts(run_id=run_id, path=path)).files
        return view
    view["entry"] = entry
    if posixpath.splitext(path)[1].lower() in IMAGE_TYPES:
        view["image"] = True
    else:
        view["preview"], view["preview_reason"] = _read_preview(open_artifact(ctx, run_id, path))
    return view


def _stream(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := handle.read(_CHUNK):
            yield chunk
    finally:
        handle.close()


def _disposition(kind: str, path: str) -> str:
    name = posixpath.basename(path) or "artifact"
    # Headers are Latin-1: only ASCII goes in filename, the exact name in filename*.
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    fallback = plain[:100] or "artifact"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/runs/{run_id}/artifacts", response_class=HTMLResponse, name="ui_artifacts")
    def artifacts_page(
        request: Request, run_id: str, path: str = Query("", max_length=4096)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        run_id = checked_run_id(run_id)
        view = ui.read(lambda ctx: _view(ctx, run_id, path), viewer)
        return ui.render(request, "artifacts.html", viewer, **view)

    @r.get("/runs/{run_id}/artifacts/download", name="ui_artifact_download")
    def download(
        request: Request,
        run_id: str,
        path: str = Query(..., max_length=4096),
        inline: bool = False,
    ) -> StreamingResponse:
        viewer = ui.viewer(request)
        run_id = checked_run_id(run_id)
        clean = clean_relative_path(path)
        handle = ui.read(lambda ctx: open_artifact(ctx, run_id, clean), viewer)
        image_type = IMAGE_TYPES.get(posixpath.splitext(clean)[1].lower())
        show_inline = inline and image_type is not None
        headers = {
            "Content-Disposition": _disposition("inline" if show_inline else "attachment", clean),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",
        }
        return StreamingResponse(
            _stream(handle),
            media_type=image_type if show_inline and image_type else "application/octet-stream",
            headers=headers,
        )

    return r
