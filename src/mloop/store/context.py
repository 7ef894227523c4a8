"""The context a domain handler runs in: one transaction, the artifact store, the caller."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from mloop.store.artifacts import ArtifactStore


@dataclass
class Context:
    """Passed to every operation handler."""

    conn: Connection
    artifacts: ArtifactStore
    actor: str
