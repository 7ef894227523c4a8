"""Movable named pointers to versions (model aliases, dataset aliases, prompt labels) with an
append-only history of every move: the mechanics the versioned-asset domains share.

A domain declares its two tables (``pointers``: ``name``, the key column, ``version``;
``history``: ``id``, ``name``, the key column, ``from_version``, ``to_version``, ``actor``,
``timestamp``) once as a :class:`Pointers` and keeps its own checks, locks and policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Select, Table, bindparam, delete, insert, select, update

from mloop.core.timeutil import now_ms
from mloop.store.context import Context


@dataclass(frozen=True)
class Pointers:
    """The pointer and history tables of one domain; ``key`` names the pointer column
    (``alias`` or ``label``)."""

    pointers: Table
    log: Table  # the history table
    key: str

    @cached_property
    def _current(self) -> Select[Any]:
        # Built once with bound parameters: list pages call it for every row.
        p = self.pointers
        return (
            select(p.c[self.key], p.c.version)
            .where(p.c.name == bindparam("name"))
            .order_by(p.c[self.key])
        )

    @cached_property
    def _get(self) -> Select[Any]:
        p = self.pointers
        return select(p.c.version).where(
            p.c.name == bindparam("name"), p.c[self.key] == bindparam("key")
        )

    def current(self, ctx: Context, name: str) -> dict[str, int]:
        """Every pointer of ``name`` and the version it points to."""
        return {row[0]: row[1] for row in ctx.conn.execute(self._current, {"name": name})}

    def by_version(self, ctx: Context, name: str, versions: list[int]) -> dict[int, list[str]]:
        """The pointers of ``name`` on each of ``versions`` (an empty list for none), for
        version listings."""
        out: dict[int, list[str]] = {v: [] for v in versions}
        for key, version in self.current(ctx, name).items():
            if version in out:
                out[version].append(key)
        return out

    def get(self, ctx: Context, name: str, key: str) -> int | None:
        return ctx.conn.execute(self._get, {"name": name, "key": key}).scalar()

    def set(self, ctx: Context, name: str, key: str, version: int) -> int | None:
        """Point ``key`` at ``version``, logging the move; returns where it pointed before.
        Nothing is written when it already points there."""
        current = self.get(ctx, name, key)
        if current == version:
            return current
        p = self.pointers
        if current is None:
            ctx.conn.execute(insert(p).values({"name": name, self.key: key, "version": version}))
        else:
            ctx.conn.execute(
                update(p).where(p.c.name == name, p.c[self.key] == key).values(version=version)
            )
        self.record(ctx, name, key, current, version)
        return current

    def remove(self, ctx: Context, name: str, key: str) -> int | None:
        """Delete ``key``, logging it; returns where it pointed (None: there was no such key,
        and nothing is written)."""
        current = self.get(ctx, name, key)
        if current is not None:
            p = self.pointers
            ctx.conn.execute(delete(p).where(p.c.name == name, p.c[self.key] == key))
            self.record(ctx, name, key, current, None)
        return current

    def record(
        self, ctx: Context, name: str, key: str, from_version: int | None, to_version: int | None
    ) -> None:
        """Append one entry to the history (it has no foreign key: it outlives deletions)."""
        ctx.conn.execute(
            insert(self.log).values(
                {
                    "name": name,
                    self.key: key,
                    "from_version": from_version,
                    "to_version": to_version,
                    "actor": ctx.actor[:256],
                    "timestamp": now_ms(),
                }
            )
        )

    def history(self, ctx: Context, name: str, key: str | None, limit: int) -> list[Any]:
        """The newest ``limit`` moves of ``name`` (of one ``key`` if given), oldest first."""
        h = self.log
        query = select(h).where(h.c.name == name)
        if key is not None:
            query = query.where(h.c[self.key] == key)
        rows = list(ctx.conn.execute(query.order_by(h.c.id.desc()).limit(limit)))
        rows.reverse()
        return rows
