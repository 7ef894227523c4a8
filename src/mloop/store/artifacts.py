"""Artifact storage on fsspec: a local directory by default, S3-compatible at scale.

Paths are always relative to the store's root and are checked before any I/O: absolute
paths, ``..`` segments, backslashes, NUL bytes and (locally) symlinks that lead outside the
root are refused. Writes are atomic: data goes to a temporary name first and is renamed
into place only once it is complete (S3 PUTs are atomic by themselves).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec

from mloop.core.errors import NotFoundError, PayloadTooLargeError, ValidationError
from mloop.core.ids import new_id

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """What was written: the relative path, its size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ArtifactEntry:
    """One entry of a directory listing."""

    path: str
    is_dir: bool
    size: int


def iter_chunks(handle: IO[bytes], size: int = _CHUNK) -> Iterator[bytes]:
    """Read an open file in chunks (for streaming responses), closing it at the end."""
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()


def clean_relative_path(path: str, field: str = "path", *, allow_empty: bool = False) -> str:
    """Normalise a user-given relative path or raise :class:`ValidationError`."""
    if not isinstance(path, str):
        raise ValidationError(f"{field} must be a string", field=field)
    if "\x00" in path or "\\" in path:
        raise ValidationError(f"{field} must not contain NUL bytes or backslashes", field=field)
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValidationError(f"{field} {path!r} must be relative, not absolute", field=field)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValidationError(f"{field} {path!r} must not contain '..'", field=field)
    cleaned = "/".join(parts)
    if not cleaned and not allow_empty:
        raise ValidationError(f"{field} must not be empty", field=field)
    return cleaned


class ArtifactStore:
    """Files under one root URL."""

    def __init__(self, root: str, *, s3_endpoint_url: str | None = None) -> None:
        self.root = root.rstrip("/")
        self.is_local = "://" not in root or root.startswith("file://")
        if self.is_local:
            local_root = root[len("file://") :] if root.startswith("file://") else root
            self.root = str(Path(local_root).expanduser().resolve())
            Path(self.root).mkdir(parents=True, exist_ok=True)
            self.fs: Any = fsspec.filesystem("file")
        else:
            protocol = root.split("://", 1)[0]
            options: dict[str, Any] = {}
            if protocol == "s3" and s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
            # fsspec caches filesystem instances; a fresh one avoids stale event loops after fork.
            options["skip_instance_cache"] = True
            self.fs = fsspec.filesystem(protocol, **options)
        # fsspec reports paths without the protocol; listings are made relative to this.
        self._root_key = self.root if self.is_local else self.root.split("://", 1)[1]

    # -- paths --------------------------------------------------------------------------

    def _full(self, rel: str) -> str:
        rel = clean_relative_path(rel, allow_empty=True)
        full = posixpath.join(self.root, rel) if rel else self.root
        if self.is_local:
            real = os.path.realpath(full)
            if real != self.root and not real.startswith(self.root + os.sep):
                raise ValidationError(f"path {rel!r} leads outside the artifact root", field="path")
        return full

    def uri(self, rel: str) -> str:
        return self._full(rel)

    # -- writing ------------------------------------------------------------------------

    def put_stream(
        self, rel: str, stream: IO[bytes], *, max_bytes: int | None = None
    ) -> StoredFile:
        """Copy a binary stream to ``rel`` atomically, hashing as it goes."""
        chunks = iter(lambda: stream.read(_CHUNK), b"")
        return self.put_chunks(rel, chunks, max_bytes=max_bytes)

    def put_chunks(
        self, rel: str, chunks: Iterator[bytes], *, max_bytes: int | None = None
    ) -> StoredFile:
        rel = clean_relative_path(rel)
        target = self._full(rel)
        digest = hashlib.sha256()
        size = 0
        tmp = f"{target}.tmp-{new_id()}" if self.is_local else target
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._full(rel)  # re-check now that parents exist (a parent could be a symlink)
        try:
            with self.fs.open(tmp, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLargeError(
                            f"artifact {rel!r} exceeds the limit of {max_bytes} bytes", field="body"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if self.is_local:
                os.replace(tmp, target)
        except BaseException:
            if self.is_local and os.path.exists(tmp):
                os.unlink(tmp)
            elif not self.is_local:
                self._remove_quietly(target)
            raise
        return StoredFile(path=rel, size=size, sha256=digest.hexdigest())

    def put_bytes(self, rel: str, data: bytes) -> StoredFile:
        return self.put_chunks(rel, iter([data]))

    def put_file(self, rel: str, local_path: str | Path) -> StoredFile:
        with open(local_path, "rb") as handle:
            return self.put_stream(rel, handle)

    def copy_tree(self, src_rel: str, dst_rel: str) -> list[StoredFile]:
        """Copy every file under ``src_rel`` to ``dst_rel`` (used to freeze model versions)."""
        stored = []
        for entry in self.walk(src_rel):
            suffix = entry.path[len(clean_relative_path(src_rel)) :].lstrip("/")
            with self.open(entry.path) as handle:
                stored.append(self.put_stream(posixpath.join(dst_rel, suffix), handle))
        return stored

    def move(self, src_rel: str, dst_rel: str) -> None:
        """Move one file to ``dst_rel``, replacing what is there: a rename on a local disk,
        a server-side copy and delete on object stores."""
        src = self._full(clean_relative_path(src_rel))
        dst = self._full(clean_relative_path(dst_rel))
        if not self.fs.isfile(src):
            raise NotFoundError(f"artifact {src_rel!r} does not exist", field="path")
        if self.is_local:
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            self._full(dst_rel)  # re-check now that parents exist (a parent could be a symlink)
            os.replace(src, dst)
        else:
            self.fs.mv(src, dst)

    def remove_tree(self, rel: str) -> None:
        """Delete a file or directory under the root (used when a model version is deleted)."""
        full = self._full(clean_relative_path(rel))
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    def _remove_quietly(self, full: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.rm(full)

    # -- reading ------------------------------------------------------------------------

    def open(self, rel: str) -> IO[bytes]:
        full = self._full(clean_relative_path(rel))
        if not self.fs.isfile(full):
            raise NotFoundError(f"artifact {rel!r} does not exist", field="path")
        handle: IO[bytes] = self.fs.open(full, "rb")
        return handle

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._full(rel)))

    def list_dir(self, rel: str = "") -> list[ArtifactEntry]:
        """Direct children of ``rel``; empty when it does not exist."""
        full = self._full(rel)
        if not self.fs.isdir(full):
            return []
        entries = []
        for info in self.fs.ls(full, detail=True):
            name = posixpath.basename(str(info["name"]).rstrip("/"))
            if ".tmp-" in name:
                continue
            child = posixpath.join(clean_relative_path(rel, allow_empty=True), name)
            is_dir = info.get("type") == "directory"
            entries.append(
                ArtifactEntry(path=child, is_dir=is_dir, size=int(info.get("size") or 0))
            )
        return sorted(entries, key=lambda e: (not e.is_dir, e.path))

    def walk(self, rel: str) -> list[ArtifactEntry]:
        """Every file under ``rel`` (recursively), or ``rel`` itself when it is a file."""
        full = self._full(rel)
        if self.fs.isfile(full):
            return [
                ArtifactEntry(path=clean_relative_path(rel), is_dir=False, size=self.fs.size(full))
            ]
        found = []
        prefix = self._root_key + "/"
        for path, info in self.fs.find(full, detail=True).items():
            rel_path = str(path)[len(prefix) :] if str(path).startswith(prefix) else str(path)
            if ".tmp-" in rel_path:
                continue
            found.append(
                ArtifactEntry(path=rel_path, is_dir=False, size=int(info.get("size") or 0))
            )
        return sorted(found, key=lambda e: e.path)

    def download_tree(self, rel: str, local_dir: str | Path) -> Path:
        """Copy ``rel`` (file or directory) into ``local_dir``; returns the local path."""
        local_dir = Path(local_dir)
        base = clean_relative_path(rel)
        entries = self.walk(base)
        if not entries:
            raise NotFoundError(f"artifact {rel!r} does not exist", field="path")
        for entry in entries:
            suffix = entry.path[len(base) :].lstrip("/") or posixpath.basename(base)
            dest = local_dir / suffix
            dest.parent.mkdir(parents=True, exist_ok=True)
            with self.open(entry.path) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        return local_dir
