"""Loading registered model versions for serving, once per process.

A version's files are copied from the artifact store into a local cache directory named by
the version's digest (the registry's sha256 over its files), checked against that digest,
and loaded with the registry's loaders and trust rules (:func:`mloop.models.load_model_dir`):
skops files load without running code, and anything that would run code is refused unless
the deployment marked the variant ``trusted``. Loaded models are kept per (digest, trust),
so a deploy that validated a model and the runtime that then serves it load it once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mloop.core.errors import MloopError, ValidationError
from mloop.models.loading import LoadedModel, load_model_dir
from mloop.registry.files import model_files_location
from mloop.registry.schemas import ModelVersionRef
from mloop.registry.versions import get_model_version
from mloop.store.artifacts import ArtifactStore
from mloop.store.context import Context


class ModelLoadError(ValidationError):
    """A model version could not be loaded for serving (nothing was switched)."""


@dataclass(frozen=True)
class StoredVersion:
    """Where a version's files are and what they hash to."""

    name: str
    version: int
    sha256: str
    location: str


def stored_version(ctx: Context, name: str, version: int) -> StoredVersion:
    """The version's digest and file location, through the registry's public functions."""
    found = get_model_version(ctx, ModelVersionRef(name=name, version=version))
    return StoredVersion(
        name=found.name,
        version=found.version,
        sha256=found.sha256,
        location=model_files_location(ctx, found.name, found.version),
    )


def _trust_key(trusted: bool | list[str]) -> Any:
    return trusted if isinstance(trusted, bool) else tuple(sorted(trusted))


def default_cache_root() -> Path:
    """``MLOOP_HOME/cache/models``: the SDK's cache too (both name entries by digest)."""
    from mloop.core.config import get_settings

    return get_settings().home / "cache" / "models"


class ModelCache:
    """Loaded models by (digest, trust); thread-safe, each loaded once."""

    def __init__(self, cache_root: Path | None = None) -> None:
        self._root = cache_root
        self._models: dict[tuple[str, Any], LoadedModel] = {}
        self._locks: dict[tuple[str, Any], threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = default_cache_root()
        return self._root

    def load(
        self, artifacts: ArtifactStore, stored: StoredVersion, trusted: bool | list[str]
    ) -> LoadedModel:
        """The loaded model; ModelLoadError says why it cannot be served."""
        key = (stored.sha256, _trust_key(trusted))
        with self._guard:
            found = self._models.get(key)
            if found is not None:
                return found
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one loader per model; others wait for it
            found = self._models.get(key)
            if found is not None:
                return found
            uri = f"models:/{stored.name}/{stored.version}"
            try:
                local = self._local_copy(artifacts, stored)
                loaded = load_model_dir(local, trusted=trusted, uri=uri)
            except MloopError as exc:
                raise ModelLoadError(
                    f"{uri} cannot be loaded: {exc.message}", field=exc.field or "variants"
                ) from exc
            except Exception as exc:  # a broken payload, a missing library
                raise ModelLoadError(
                    f"{uri} cannot be loaded: {type(exc).__name__}: {exc}", field="variants"
                ) from exc
            with self._guard:
                self._models[key] = loaded
            return loaded

    def retain(self, digests: Iterable[str]) -> None:
        """Forget loaded models whose digest is not in ``digests`` (files stay cached)."""
        keep = set(digests)
        with self._guard:
            for key in [k for k in self._models if k[0] not in keep]:
                del self._models[key]
                self._locks.pop(key, None)

    def loaded_digests(self) -> set[str]:
        with self._guard:
            return {key[0] for key in self._models}

    def _local_copy(self, artifacts: ArtifactStore, stored: StoredVersion) -> Path:
        """The version's files in ``root/<digest>``, copied and checked on first use."""
        from mloop.models.digest import local_tree_digest

        root = self.root
        target = root / stored.sha256
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".serving-", dir=root))
        try:
            artifacts.download_tree(stored.location, staging)
            digest = local_tree_digest(staging)
            if digest != stored.sha256:
                raise ModelLoadError(
                    f"the files of models:/{stored.name}/{stored.version} have digest {digest}, "
                    f"but the registry recorded {stored.sha256}; the stored copy is damaged or "
                    "was altered",
                    field="variants",
                )
            try:
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():
                    raise
                shutil.rmtree(staging, ignore_errors=True)  # another process cached it first
            return target
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


MODELS = ModelCache()
"""The process's loaded models, shared by the deploy operation and the serving runtime."""
