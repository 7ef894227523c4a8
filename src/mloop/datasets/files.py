"""The files of dataset versions: one Parquet file each, at
``datasets/<name>/<version>/data.parquet`` in the artifact store.

Uploads arrive first (``accept_upload``): the bytes are stored under
``datasets/_uploads/<upload_id>.parquet`` while their sha256 is computed, refused unless it
equals the digest the client claimed and the file looks like Parquet, and recorded in
``dataset_uploads``. Creating the version then moves the file into place (a rename on a
local disk). Uploads no version claimed are removed after a day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO

from sqlalchemy import delete, insert, select

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.ids import new_id
from mloop.core.timeutil import now_ms
from mloop.datasets import tables as t
from mloop.datasets.checks import check_dataset_name, check_digest, check_upload_id
from mloop.datasets.common import load_version_row
from mloop.datasets.schemas import DatasetUpload
from mloop.store.artifacts import ArtifactStore
from mloop.store.context import Context
from mloop.store.runtime import Runtime

DATASETS_ROOT = "datasets"
UPLOADS_DIR = f"{DATASETS_ROOT}/_uploads"  # not a dataset name: those start with [A-Za-z0-9]
DATA_FILE = "data.parquet"
UPLOAD_TTL_MS = 24 * 3600 * 1000
_MAGIC = b"PAR1"
_CHUNK = 1024 * 1024

log = logging.getLogger("mloop.datasets")


def version_dir(name: str, version: int) -> str:
    return f"{DATASETS_ROOT}/{check_dataset_name(name)}/{int(version)}"


def version_location(name: str, version: int) -> str:
    """Where a version's Parquet file is stored, relative to the artifact root."""
    return f"{version_dir(name, version)}/{DATA_FILE}"


class _Edges:
    """Reads a stream in chunks, remembering its first and last four bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.head = b""
        self.tail = b""

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.stream.read(_CHUNK):
            if len(self.head) < 4:
                self.head = (self.head + chunk)[:4]
            self.tail = (self.tail + chunk)[-4:]
            yield chunk


def _remove_quietly(artifacts: ArtifactStore, rel: str) -> None:
    try:
        artifacts.remove_tree(rel)
    except OSError as exc:  # leftovers are harmless; the uploads sweep removes them later
        log.warning("could not remove %s: %s", rel, exc)


def accept_upload(
    runtime: Runtime,
    name: str,
    digest: str,
    stream: IO[bytes],
    *,
    max_bytes: int | None,
    actor: str | None = None,
) -> DatasetUpload:
    """Store an uploaded Parquet file whose sha256 must be ``digest``; returns its upload id.

    The bytes go to the artifact store outside any database transaction (they can be
    large); only the record of the upload is written in one.
    """
    name = check_dataset_name(name)
    digest = check_digest(digest)
    upload_id = new_id()
    rel = f"{UPLOADS_DIR}/{upload_id}.parquet"
    edges = _Edges(stream)
    stored = runtime.artifacts.put_chunks(rel, edges.chunks(), max_bytes=max_bytes)
    try:
        if stored.sha256 != digest:
            raise ValidationError(
                f"the uploaded bytes have sha256 {stored.sha256}, not the digest {digest} the "
                "client claimed: the file changed or was damaged on the way. Nothing was "
                "stored; register the dataset again",
                field="digest",
            )
        if stored.size < 12 or edges.head != _MAGIC or edges.tail != _MAGIC:
            raise ValidationError(
                "the uploaded file is not a Parquet file (it must start and end with PAR1)",
                field="body",
            )
        return runtime.run(
            lambda ctx: _record_upload(ctx, upload_id, name, digest, stored.size, rel),
            write=True,
            actor=actor,
        )
    except BaseException:
        _remove_quietly(runtime.artifacts, rel)
        raise


def _record_upload(
    ctx: Context, upload_id: str, name: str, digest: str, size: int, rel: str
) -> DatasetUpload:
    now = now_ms()
    _sweep(ctx, now - UPLOAD_TTL_MS)
    ctx.conn.execute(
        insert(t.dataset_uploads).values(
            upload_id=upload_id,
            name=name,
            digest=digest,
            size=size,
            storage_path=rel,
            created_by=ctx.actor[:256],
            created_time=now,
        )
    )
    return DatasetUpload(upload_id=upload_id, name=name, digest=digest, size=size)


def _sweep(ctx: Context, before: int) -> None:
    """Forget uploads older than ``before`` that no version claimed, and their files."""
    u = t.dataset_uploads
    stale = list(
        ctx.conn.execute(
            select(u.c.upload_id, u.c.storage_path).where(u.c.created_time < before).limit(100)
        )
    )
    for row in stale:
        _remove_quietly(ctx.artifacts, row.storage_path)
    if stale:
        ctx.conn.execute(delete(u).where(u.c.upload_id.in_([r.upload_id for r in stale])))


def claim_upload(ctx: Context, upload_id: str, name: str, digest: str) -> tuple[str, int]:
    """The stored path and size of an upload made for ``name`` with ``digest``; its record
    is removed (the caller then moves or deletes the file)."""
    u = t.dataset_uploads
    row = ctx.conn.execute(
        select(u).where(u.c.upload_id == check_upload_id(upload_id)).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(
            f"upload {upload_id} does not exist (it was used already or expired); "
            "upload the file again",
            field="upload_id",
        )
    if row.name != name or row.digest != digest:
        raise ValidationError(
            f"upload {upload_id} was made for {row.name!r} with digest {row.digest}, not for "
            f"{name!r} with digest {digest}",
            field="upload_id",
        )
    ctx.conn.execute(delete(u).where(u.c.upload_id == upload_id))
    return str(row.storage_path), int(row.size)


def discard_upload(ctx: Context, rel: str) -> None:
    _remove_quietly(ctx.artifacts, rel)


def place_upload(ctx: Context, rel: str, name: str, version: int) -> str:
    """Move a claimed upload to the version's location; returns that location."""
    location = version_location(name, version)
    # Anything there is a leftover of an attempt that was rolled back (numbers are never
    # handed out twice while the dataset exists).
    _remove_quietly(ctx.artifacts, version_dir(name, version))
    ctx.artifacts.move(rel, location)
    return location


def open_version_file(ctx: Context, name: str, version: int | str) -> IO[bytes]:
    """Open the Parquet file of a live version."""
    number = _parse_version(version)
    row = load_version_row(ctx, check_dataset_name(name), number)
    if not ctx.artifacts.exists(row.storage_path):
        raise NotFoundError(
            f"the file of version {number} of dataset {name!r} is missing from the artifact store",
            field="version",
        )
    return ctx.artifacts.open(row.storage_path)


def remove_version_files(ctx: Context, name: str, version: int) -> None:
    _remove_quietly(ctx.artifacts, version_dir(name, version))


def _parse_version(value: object, field: str = "version") -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{field} must be a positive integer, got {value!r}", field=field)
    return value
