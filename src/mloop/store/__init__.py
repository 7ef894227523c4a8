"""Storage layer: metadata database, artifact store, and the runtime that binds them."""

from mloop.store.artifacts import ArtifactStore, StoredFile, clean_relative_path
from mloop.store.context import Context
from mloop.store.db import Database
from mloop.store.runtime import Runtime, open_runtime
from mloop.store.schema import metadata

__all__ = [
    "ArtifactStore",
    "Context",
    "Database",
    "Runtime",
    "StoredFile",
    "clean_relative_path",
    "metadata",
    "open_runtime",
]
