"""Versioned datasets: immutable Parquet versions identified by content hash, with
profiles, aliases, registration policies (data contracts), stored validations and lineage.

The engine (profiles, contracts, validation) is ``mloop.data``; this domain stores what it
computes. See ``docs/data.md``.
"""

from mloop.datasets import aliases, catalog, files, lineage, policies, validations, versions
from mloop.datasets.ops import operations

__all__ = [
    "aliases",
    "catalog",
    "files",
    "lineage",
    "operations",
    "policies",
    "validations",
    "versions",
]
