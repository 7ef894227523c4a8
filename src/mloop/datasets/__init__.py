"""Versioned datasets: immutable Parquet versions identified by content hash, with
profiles, aliases, registration policies (data contracts), stored validations and lineage.

The engine (profiles, contracts, validation) is ``mloop.data``; this domain stores what it
computes. See ``docs/data.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "aliases": "mloop.datasets.aliases",
    "catalog": "mloop.datasets.catalog",
    "files": "mloop.datasets.files",
    "lineage": "mloop.datasets.lineage",
    "policies": "mloop.datasets.policies",
    "validations": "mloop.datasets.validations",
    "versions": "mloop.datasets.versions",
    "operations": "mloop.datasets.ops",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.datasets import aliases, catalog, files, lineage, policies, validations, versions
    from mloop.datasets.ops import operations
