"""Run Alembic migrations programmatically, serialised across processes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from mloop.store.db import Database

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_ADVISORY_KEY = 0x6D6C6F6F70  # "mloop"


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.attributes["engine"] = db.engine
    return config


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def upgrade(db: Database) -> None:
    """Upgrade to head unless already there. Other processes wait for the one migrating."""
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
