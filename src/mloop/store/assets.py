"""Named assets with numbered versions (registered models, datasets, prompts): the row
lookups the versioned-asset domains share.

A domain declares its asset table (``name``, ``creation_time``, ``last_update_time`` and
its own columns) and version table (``name``, ``version``, optionally ``status``) once as an
:class:`AssetRows` and keeps its own checks, messages and policies. A version table with a
``status`` column has soft-deleted versions: they are not found and never the latest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Select,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, NotFoundError
from mloop.core.timeutil import now_ms
from mloop.store.context import Context


def asset_columns() -> list[Column[Any]]:
    """The columns every named-asset table starts with: the name (its key), a description,
    and when it was created and last changed (milliseconds)."""
    return [
        Column("name", String(256), primary_key=True),
        Column("description", Text, nullable=False, default=""),
        Column("creation_time", BigInteger, nullable=False),
        Column("last_update_time", BigInteger, nullable=False),
    ]


def lower_name_index(table: Table) -> Index:
    """Declare on ``table`` the unique index on ``lower(name)`` (migration 0006): names are
    unique regardless of case even when two writers create ``Lamp`` and ``lamp`` at the same
    moment, which the check in :meth:`AssetRows.create` alone cannot see."""
    return Index(f"ux_{table.name}_lower_name", func.lower(table.c.name), unique=True)


READY = "READY"
DELETED = "DELETED"


@dataclass(frozen=True)
class AssetRows:
    """The asset and version tables of one domain.

    ``noun`` names the asset in messages ("dataset", "registered model"), ``version_noun``
    in version messages ("version 3 of model 'churn'"); ``check_name`` validates a name at
    the boundary and raises the domain's error.
    """

    assets: Table
    versions: Table
    noun: str
    check_name: Callable[[str], object]
    version_noun: str = ""

    def _by_name(self, name: str, *, lock: bool) -> Select[Any]:
        query = select(self.assets).where(self.assets.c.name == name)
        return query.with_for_update() if lock else query

    def load(self, ctx: Context, name: str, *, lock: bool = False) -> Any:
        """The asset's row. ``lock=True`` serialises writers of this asset.

        Every change to an asset's versions and pointers locks its row first, so version
        numbers and pointer moves are decided one writer at a time (SQLite serialises all
        writes anyway; PostgreSQL takes a row lock).
        """
        self.check_name(name)
        row = ctx.conn.execute(self._by_name(name, lock=lock)).first()
        if row is None:
            raise NotFoundError(f"{self.noun} {name!r} does not exist", field="name")
        return row

    def create(self, ctx: Context, name: str, **values: Any) -> None:
        """Insert a new asset with ``values``; ConflictError when the name is taken, in any
        case."""
        self.check_name(name)
        self._refuse_clash(ctx, name)
        if not self._insert(ctx, name, values):
            # A concurrent writer took the name, in this case or another, a moment ago
            # (PostgreSQL made this insert wait for it): answer as the check would have.
            self._refuse_clash(ctx, name)
            raise ConflictError(f"{self.noun} {name!r} already exists", field="name")

    def ensure(self, ctx: Context, name: str, **values: Any) -> Any:
        """The asset's row, locked; created with ``values`` when it does not exist."""
        self.check_name(name)
        query = self._by_name(name, lock=True)
        row = ctx.conn.execute(query).first()
        if row is not None:
            return row
        self._refuse_clash(ctx, name)
        if not self._insert(ctx, name, values):
            # A concurrent writer created it a moment ago (PostgreSQL made this insert wait
            # for that transaction): use its row.
            row = ctx.conn.execute(query).first()
            if row is None:  # it took the name in another case
                self._refuse_clash(ctx, name)
                raise ConflictError(
                    f"{self.noun} {name!r} was created concurrently; retry", field="name"
                )
            return row
        return ctx.conn.execute(query).first()

    def _refuse_clash(self, ctx: Context, name: str) -> None:
        clash = ctx.conn.execute(
            select(self.assets.c.name).where(func.lower(self.assets.c.name) == name.lower())
        ).first()
        if clash is not None:
            detail = "already exists" if clash.name == name else f"clashes with {clash.name!r}"
            raise ConflictError(
                f"{self.noun} {name!r} {detail} (names are unique regardless of case)",
                field="name",
            )

    def _insert(self, ctx: Context, name: str, values: dict[str, Any]) -> bool:
        """Insert the row; False when a concurrent writer inserted the name first (the
        primary key or the ``lower(name)`` index refused it)."""
        now = now_ms()
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(
                    insert(self.assets).values(
                        name=name, creation_time=now, last_update_time=now, **values
                    )
                )
        except IntegrityError:
            return False
        return True

    def touch(self, ctx: Context, name: str, **values: Any) -> None:
        """Set ``last_update_time`` to now, and ``values``."""
        ctx.conn.execute(
            update(self.assets)
            .where(self.assets.c.name == name)
            .values(last_update_time=now_ms(), **values)
        )

    def load_version(self, ctx: Context, name: str, version: int) -> Any:
        """A live (not deleted) version's row; NotFoundError names the asset or the version."""
        v = self.versions
        row = ctx.conn.execute(select(v).where(v.c.name == name, v.c.version == version)).first()
        if row is None:
            self.load(ctx, name)  # an unknown asset is reported as such
        deleted = row is not None and "status" in v.c and row.status == DELETED
        if row is None or deleted:
            state = "was deleted" if deleted else "does not exist"
            noun = self.version_noun or self.noun
            raise NotFoundError(f"version {version} of {noun} {name!r} {state}", field="version")
        return row

    def latest_version(self, ctx: Context, name: str) -> int | None:
        """The highest live version number, or None when the asset has none."""
        v = self.versions
        query = select(func.max(v.c.version)).where(v.c.name == name)
        if "status" in v.c:
            query = query.where(v.c.status == READY)
        value = ctx.conn.execute(query).scalar()
        return int(value) if value is not None else None
