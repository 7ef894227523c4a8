"""Content digests of model directories: one sha256 over every file's path and sha256.

The registry computes the digest of a version's files when it copies them; the SDK
computes it again over what it downloaded, so a corrupted or altered copy is detected.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from mloop.core.errors import ValidationError

_CHUNK = 1024 * 1024


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """sha256 over ``(relative path, file sha256)`` pairs, sorted by path."""
    digest = hashlib.sha256()
    for path, sha in sorted(files):
        digest.update(f"{path}\x00{sha}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as ``(posix relative path, path)``; symlinks refused."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                raise ValidationError(
                    f"{path} is a symbolic link; model directories hold plain files only",
                    field="path",
                )
        for name in filenames:
            path = Path(dirpath) / name
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def local_tree_digest(root: Path) -> str:
    """The digest of a local directory, comparable with the registry's."""
    return tree_digest((rel, file_sha256(path)) for rel, path in local_files(root))
