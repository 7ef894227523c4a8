"""Movable named pointers to versions (model aliases, dataset aliases, prompt labels) with an
append-only history of every move: the mechanics the versioned-asset domains share.

A domain builds its two tables with :func:`pointer_tables` (``pointers``: ``name``, the key
column, ``version``; ``history``: ``id``, ``name``, the key column, ``from_version``,
``to_version``, ``actor``, ``timestamp``), wraps them once in a :class:`Pointers` and keeps its
own checks, locks and policies. Giving a new versioned asset pointers takes a few lines::

    # features/tables.py
    feature_view_aliases, feature_view_alias_history = pointer_tables(
        metadata,
        "feature_views",
        pointers="feature_view_aliases",
        history="feature_view_alias_history",
        key="alias",
    )

    # features/common.py
    ALIASES = Pointers(t.feature_view_aliases, t.feature_view_alias_history, "alias")

    # the history handler, after checking the name and the alias
    entries = ALIASES.history_entries(
        ctx, name, alias, req.max_results, FeatureViewAliasHistoryEntry, load=load_view_row
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from mloop.core.timeutil import now_ms
from mloop.store.context import Context

Entry = TypeVar("Entry")


def pointer_tables(
    metadata: MetaData, assets: str, *, pointers: str, history: str, key: str
) -> tuple[Table, Table]:
    """The pointer table and the history table of the asset table ``assets``.

    ``pointers`` and ``history`` name the tables and ``key`` the pointer column. Pointers
    follow their asset (renamed and deleted with it); the history has no foreign key, so it
    outlives deleted versions and assets.
    """
    pointer_table = Table(
        pointers,
        metadata,
        Column(
            "name",
            String(256),
            ForeignKey(f"{assets}.name", ondelete="CASCADE", onupdate="CASCADE"),
            primary_key=True,
        ),
        Column(key, String(256), primary_key=True),
        Column("version", Integer, nullable=False),
    )
    history_table = Table(
        history,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(256), nullable=False),
        Column(key, String(256), nullable=False),
        Column("from_version", Integer, nullable=True),
        Column("to_version", Integer, nullable=True),
        Column("actor", String(256), nullable=False),
        Column("timestamp", BigInteger, nullable=False),
        Index(f"ix_{history}_name_{key}", "name", key),
    )
    return pointer_table, history_table


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

    def history_entries(
        self,
        ctx: Context,
        name: str,
        key: str | None,
        limit: int,
        entry: Callable[..., Entry],
        *,
        load: Callable[[Context, str], object],
    ) -> list[Entry]:
        """:meth:`history` as ``entry`` messages (fields: ``name``, the key, ``from_version``,
        ``to_version``, ``actor``, ``timestamp``).

        An empty history is an answer only for an asset that exists: then ``load`` (the
        domain's row lookup) raises the domain's not-found error for a wrong name.
        """
        rows = self.history(ctx, name, key, limit)
        if not rows:
            load(ctx, name)
        return [
            entry(
                name=r.name,
                **{self.key: r._mapping[self.key]},
                from_version=r.from_version,
                to_version=r.to_version,
                actor=r.actor,
                timestamp=r.timestamp,
            )
            for r in rows
        ]
