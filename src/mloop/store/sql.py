"""Small SQL helpers that differ by dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT unless the primary key exists; True when a row was inserted.

    One statement on SQLite and PostgreSQL (``ON CONFLICT DO NOTHING``), where a
    savepoint around a failing insert would cost three.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(conn.dialect.name)
    # RETURNING says reliably whether a row went in; rowcount is -1 on some drivers.
    returned = conn.execute(stmt.returning(*table.primary_key.columns)).first()
    return returned is not None
