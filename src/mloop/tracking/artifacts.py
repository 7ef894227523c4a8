"""Run artifacts: files stored under the run's artifact root, each recorded with its sha256."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import IO

from sqlalchemy import delete, insert, select

from mloop.core.timeutil import now_ms
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context
from mloop.tracking import tables as t
from mloop.tracking.ops import operations
from mloop.tracking.runs import load_run_row, require_active_run
from mloop.tracking.schemas import ArtifactFile, ArtifactList, ListArtifacts


def run_artifact_path(ctx: Context, run_id: str, path: str = "") -> str:
    """The store-relative location of ``path`` inside a run's artifacts."""
    row = load_run_row(ctx, run_id)
    rel = clean_relative_path(path, allow_empty=True)
    return posixpath.join(row.artifact_uri, rel) if rel else row.artifact_uri


def store_artifact(
    ctx: Context, run_id: str, path: str, local_file: Path, *, max_bytes: int | None = None
) -> ArtifactFile:
    """Copy a local file into the run's artifacts at ``path`` (replacing an older file)."""
    row = require_active_run(ctx, run_id)
    rel = clean_relative_path(path)
    with open(local_file, "rb") as handle:
        stored = ctx.artifacts.put_stream(
            posixpath.join(row.artifact_uri, rel), handle, max_bytes=max_bytes
        )
    ctx.conn.execute(
        delete(t.artifacts).where(t.artifacts.c.run_id == run_id, t.artifacts.c.path == rel)
    )
    ctx.conn.execute(
        insert(t.artifacts).values(
            run_id=run_id, path=rel, size=stored.size, sha256=stored.sha256, created_at=now_ms()
        )
    )
    return ArtifactFile(path=rel, is_dir=False, size=stored.size, sha256=stored.sha256)


def open_artifact(ctx: Context, run_id: str, path: str) -> IO[bytes]:
    """Open one artifact file for reading."""
    return ctx.artifacts.open(run_artifact_path(ctx, run_id, clean_relative_path(path)))


@operations.get("/artifacts/walk", ListArtifacts, ArtifactList)
def walk_artifacts(ctx: Context, req: ListArtifacts) -> ArtifactList:
    """Every file under ``path`` (recursively), with paths relative to the run's root."""
    root = run_artifact_path(ctx, req.run_id)
    base = run_artifact_path(ctx, req.run_id, req.path)
    hashes = _hashes(ctx, req.run_id)
    files = []
    for entry in ctx.artifacts.walk(base):
        rel = entry.path[len(root) :].lstrip("/")
        files.append(ArtifactFile(path=rel, is_dir=False, size=entry.size, sha256=hashes.get(rel)))
    return ArtifactList(root_uri=root, files=files)


def _hashes(ctx: Context, run_id: str) -> dict[str, str]:
    rows = ctx.conn.execute(
        select(t.artifacts.c.path, t.artifacts.c.sha256).where(t.artifacts.c.run_id == run_id)
    )
    return {r.path: r.sha256 for r in rows}


@operations.get("/artifacts/list", ListArtifacts, ArtifactList)
def list_artifacts(ctx: Context, req: ListArtifacts) -> ArtifactList:
    """The direct children of a directory in a run's artifacts."""
    root = run_artifact_path(ctx, req.run_id)
    base = run_artifact_path(ctx, req.run_id, req.path)
    hashes = _hashes(ctx, req.run_id)
    files = []
    for entry in ctx.artifacts.list_dir(base):
        rel = entry.path[len(root) :].lstrip("/")
        files.append(
            ArtifactFile(
                path=rel,
                is_dir=entry.is_dir,
                size=None if entry.is_dir else entry.size,
                sha256=None if entry.is_dir else hashes.get(rel),
            )
        )
    return ArtifactList(root_uri=root, files=files)
