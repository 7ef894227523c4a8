"""The files of model versions: frozen copies under ``models/<name>/<version>/``.

Versions never share files with runs: registering copies the run's model directory, so
later changes to the run's artifacts cannot change a version. Each version row records where
its files are (``storage_path``): a renamed model's versions keep their first location, and a
version registered through MLflow's API from a source mloop cannot read (``s3://...``, a run
it does not hold) has no files at all (an empty ``storage_path``).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable
from typing import IO

from sqlalchemy import select

from mloop.core.errors import NotFoundError, ValidationError
from mloop.models.digest import tree_digest
from mloop.registry import tables as t
from mloop.registry.checks import check_model_name, no_files_message
from mloop.registry.common import load_version_row
from mloop.registry.ops import operations
from mloop.registry.schemas import ModelFileList, ModelVersionRef
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context

MODELS_ROOT = "models"
log = logging.getLogger("mloop.registry")


def parse_version(value: object, field: str = "version") -> int:
    """A version number given as an int or a string of digits."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{field} must be a positive integer, got {value!r}", field=field)
    return value


def version_location(name: str, version: int) -> str:
    """Where a version's files are stored, relative to the artifact root."""
    return f"{MODELS_ROOT}/{check_model_name(name)}/{parse_version(version)}"


def model_files_location(ctx: Context, name: str, version: int) -> str:
    """The store-relative directory holding a live version's files.

    NotFoundError, naming the version and its source, when mloop holds no files for it."""
    row = load_version_row(ctx, check_model_name(name), parse_version(version))
    if not row.storage_path:
        raise NotFoundError(no_files_message(row.name, row.version, row.source), field="version")
    return str(row.storage_path)


@operations.get("/model-versions/files", ModelVersionRef, ModelFileList)
def list_model_version_files(ctx: Context, req: ModelVersionRef) -> ModelFileList:
    """The files of a model version, as paths relative to the version's directory."""
    location = model_files_location(ctx, req.name, req.version)
    return ModelFileList(
        files=[e.path[len(location) :].lstrip("/") for e in ctx.artifacts.walk(location)]
    )


def open_model_file(ctx: Context, name: str, version: int | str, path: str) -> IO[bytes]:
    """Open one file of a model version; the path cannot leave the version's directory."""
    location = model_files_location(ctx, name, parse_version(version))
    rel = clean_relative_path(path, "path")
    full = posixpath.join(location, rel)
    if not ctx.artifacts.exists(full):
        raise NotFoundError(
            f"version {version} of model {name!r} has no file {rel!r}", field="path"
        )
    return ctx.artifacts.open(full)


def _remove_tree(ctx: Context, rel: str) -> None:
    try:
        ctx.artifacts.remove_tree(rel)
    except OSError as exc:  # the metadata change stands; leftover files are harmless
        log.warning("could not remove %s: %s", rel, exc)


def stored_locations(ctx: Context, name: str, version: int | None = None) -> list[str]:
    """The recorded file locations of one version, or of every version of a model (read
    before the rows go: a renamed model's files stay under its former name)."""
    query = select(t.model_versions.c.storage_path).where(t.model_versions.c.name == name)
    if version is not None:
        query = query.where(t.model_versions.c.version == version)
    return sorted({str(p) for p in ctx.conn.execute(query).scalars() if p})


def remove_stored_files(ctx: Context, locations: Iterable[str]) -> None:
    """Delete the given version directories (locations read by :func:`stored_locations`)."""
    for location in locations:
        _remove_tree(ctx, clean_relative_path(location, "storage_path"))


def remove_model_files(ctx: Context, name: str, version: int | None = None) -> None:
    """Delete the stored files of one version, or everything under a model's own directory."""
    if version is not None:
        rel = version_location(name, version)
    else:
        rel = f"{MODELS_ROOT}/{check_model_name(name)}"
    _remove_tree(ctx, rel)


def _free_location(ctx: Context, name: str, version: int) -> str:
    """``models/<name>/<version>``, unless a version of a renamed model still keeps its files
    there (it was registered under this name): then a suffixed directory beside it."""
    base = version_location(name, version)
    taken = set(
        ctx.conn.execute(
            select(t.model_versions.c.storage_path).where(
                t.model_versions.c.storage_path.startswith(base, autoescape=True)
            )
        ).scalars()
    )
    location, n = base, 1
    while location in taken:
        location, n = f"{base}-{n}", n + 1
    return location


def freeze_files(ctx: Context, source: str, name: str, version: int) -> tuple[str, str]:
    """Copy the directory ``source`` to the version's location; returns (location, digest).

    Anything already at the location is a leftover of an attempt that was rolled back (no
    recorded version uses it), so it is cleared first. On failure the partial copy is removed.
    """
    location = _free_location(ctx, name, version)
    _remove_tree(ctx, location)
    try:
        stored = ctx.artifacts.copy_tree(source, location)
    except BaseException:
        _remove_tree(ctx, location)
        raise
    digest = tree_digest((f.path[len(location) :].lstrip("/"), f.sha256) for f in stored)
    return location, digest
