"""Writing model directories atomically, and the versions of the libraries they depend on."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from pathlib import Path

from mloop.core.errors import ValidationError


@contextmanager
def staged_directory(path: str | Path) -> Iterator[Path]:
    """A temporary sibling directory that is renamed to ``path`` when the block succeeds.

    ``path`` must not exist yet (or be an empty directory): a model directory is written
    once, completely, or not at all.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValidationError(
            f"{target} already exists and is not empty; save the model to a new path",
            field="path",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        staging.chmod(0o755)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (those not installed are left out)."""
    found = {}
    for name in ("mloop", *names):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found
