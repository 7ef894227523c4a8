"""Asset names unique regardless of case: a unique index on lower(name)

The check in ``store.assets`` refuses ``lamp`` when ``Lamp`` exists, but two writers that
check at the same moment both pass it; the index makes the second insert fail.

A table that already holds names differing only in case (left by that race before this
revision) keeps them: nothing is renamed or deleted, the index is not created on that table,
and a warning names the clashes. The check still refuses new clashes there. Rename or delete
one of each pair, then create the index by hand (``CREATE UNIQUE INDEX
ux_<table>_lower_name ON <table> (lower(name))``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("registered_models", "datasets", "prompts")

log = logging.getLogger("mloop.store.migrations")


def _clashes(table: str) -> list[str]:
    """The names of ``table`` that equal another name but for case."""
    query = sa.text(
        f"SELECT name FROM {table} WHERE lower(name) IN "
        f"(SELECT lower(name) FROM {table} GROUP BY lower(name) HAVING count(*) > 1) "
        "ORDER BY lower(name), name"
    )
    return list(op.get_bind().execute(query).scalars())


def upgrade() -> None:
    for table in TABLES:
        clashes = _clashes(table)
        if clashes:
            log.warning(
                "%s holds names that differ only in case (%s): the unique index on "
                "lower(name) is not created there; mloop still refuses new clashes. Rename "
                "or delete one of each, then run: CREATE UNIQUE INDEX ux_%s_lower_name "
                "ON %s (lower(name))",
                table,
                ", ".join(repr(name) for name in clashes),
                table,
                table,
            )
            continue
        op.create_index(f"ux_{table}_lower_name", table, [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP INDEX IF EXISTS ux_{table}_lower_name")
