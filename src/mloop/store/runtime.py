"""A :class:`Runtime` holds the database and artifact store built from settings."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mloop.core.config import Settings
from mloop.store.artifacts import ArtifactStore
from mloop.store.context import Context
from mloop.store.db import Database

T = TypeVar("T")


@functools.cache
def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


@dataclass
class Runtime:
    """Database plus artifacts, ready to run handlers."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore

    def run(self, fn: Callable[[Context], T], *, write: bool, actor: str | None = None) -> T:
        """Run ``fn`` inside one transaction."""
        tx = self.db.write() if write else self.db.read()
        with tx as conn:
            who = actor or self.settings.user or _default_actor()
            return fn(Context(conn=conn, artifacts=self.artifacts, actor=who))

    def close(self) -> None:
        self.db.dispose()


def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Open the stores named by ``settings``, creating and migrating them if needed."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    artifacts = ArtifactStore(settings.artifact_root, s3_endpoint_url=settings.s3_endpoint_url)
    return Runtime(settings=settings, db=db, artifacts=artifacts)
