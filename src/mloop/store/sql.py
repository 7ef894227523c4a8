"""Small SQL helpers that differ by dialect."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Table, bindparam

from mloop.core.errors import MloopError


@functools.cache
def _insert_ignore_statement(table: Table, dialect: str, columns: tuple[str, ...]) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    inserts: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if dialect not in inserts:
        raise MloopError(f"database dialect {dialect!r} is not supported: use SQLite or PostgreSQL")
    # Built once per table and column set: constructing it costs more than running it.
    stmt = inserts[dialect](table).values({name: bindparam(name) for name in columns})
    # RETURNING says reliably whether a row went in; rowcount is -1 on some drivers.
    return stmt.on_conflict_do_nothing().returning(*table.primary_key.columns)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT unless the primary key exists; True when a row was inserted.

    One statement on SQLite and PostgreSQL (``ON CONFLICT DO NOTHING``), where a
    savepoint around a failing insert would cost three.
    """
    stmt = _insert_ignore_statement(table, conn.dialect.name, tuple(sorted(values)))
    return conn.execute(stmt, values).first() is not None
