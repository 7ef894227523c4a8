"""Run Alembic migrations programmatically, serialised across processes.

Every process that opens a store checks that its schema is current. Alembic (with Mako and
Pygments) takes about 0.1 s to import, more than a CLI command's own work, so the check
first compares the database's ``alembic_version`` with the head read straight from the
migration files, and imports Alembic only when they differ.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

    from mloop.store.db import Database

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_ADVISORY_KEY = 0x6D6C6F6F70  # "mloop"
_REVISION = re.compile(r"^revision(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=]*)?=\s*(?:[\"']([^\"']+)[\"']|None)", re.M)


@functools.cache
def script_head() -> str | None:
    """The head revision from the migration files' ``revision`` and ``down_revision`` lines,
    without Alembic; None when the files are not a single linear chain (Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(db: Database) -> str | None:
    """``alembic_version`` read with plain SQL (None for a new database)."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.attributes["engine"] = db.engine
    return config


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def upgrade(db: Database) -> None:
    """Upgrade to head unless already there. Other processes wait for the one migrating."""
    fast_head = script_head()
    if fast_head is not None and _stored_revision(db) == fast_head:
        return
    from alembic import command
    from filelock import FileLock

    head = head_revision(db)
    if current_revision(db) == head:
        return
    if db.is_sqlite:
        database = make_url(db.url).database or ""
        if database in ("", ":memory:"):
            command.upgrade(alembic_config(db), "head")
            return
        with FileLock(database + ".migrate.lock", timeout=120):
            if current_revision(db) != head:
                command.upgrade(alembic_config(db), "head")
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_ADVISORY_KEY})
        conn.commit()
        try:
            if current_revision(db) != head:
                command.upgrade(alembic_config(db), "head")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_ADVISORY_KEY})
            conn.commit()
