"""Aliases: movable names (``champion``, ``challenger``...) for versions, with an audit trail.

Every set, move and delete appends an entry to the alias history (who, when, from which
version to which). The history is kept when versions or the whole model are deleted.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from mloop.core.errors import NotFoundError
from mloop.core.operations import Empty
from mloop.registry import tables as t
from mloop.registry.checks import check_alias, check_model_name
from mloop.registry.common import (
    ALIASES,
    DELETED,
    load_model_row,
    load_version_row,
    version_message,
    version_messages,
)
from mloop.registry.models import touch_model
from mloop.registry.ops import operations
from mloop.registry.schemas import (
    AliasHistory,
    AliasHistoryEntry,
    AliasRef,
    GetAliasHistory,
    ModelVersion,
    SetAlias,
)
from mloop.store.context import Context


def resolve_alias(ctx: Context, name: str, alias: str) -> int:
    """The version an alias points to."""
    load_model_row(ctx, name)
    version = ALIASES.get(ctx, name, check_alias(alias))
    if version is None:
        raise NotFoundError(f"model {name!r} has no alias {alias!r}", field="alias")
    return version


@operations.post("/aliases/set", SetAlias, Empty)
def set_alias(ctx: Context, req: SetAlias) -> Empty:
    """Point an alias at a version (creating or moving it); the move is logged."""
    name = load_model_row(ctx, req.name, lock=True).name
    alias = check_alias(req.alias)
    load_version_row(ctx, name, req.version)
    if ALIASES.set(ctx, name, alias, req.version) != req.version:
        touch_model(ctx, name)
    return Empty()


@operations.post("/aliases/delete", AliasRef, Empty)
def delete_alias(ctx: Context, req: AliasRef) -> Empty:
    """Remove an alias; the deletion is logged."""
    name = load_model_row(ctx, req.name, lock=True).name
    alias = check_alias(req.alias)
    if ALIASES.remove(ctx, name, alias) is None:
        raise NotFoundError(f"model {name!r} has no alias {alias!r}", field="alias")
    touch_model(ctx, name)
    return Empty()


@operations.get("/aliases/get", AliasRef, ModelVersion, quick=True)
def get_model_version_by_alias(ctx: Context, req: AliasRef) -> ModelVersion:
    """The version an alias points to."""
    # The hot path of serving: one join finds the version; the slower lookups below only
    # run to say precisely what is missing.
    row = ctx.conn.execute(
        _VERSION_BY_ALIAS,
        {"name": check_model_name(req.name), "alias": check_alias(req.alias)},
    ).first()
    if row is None or row.status == DELETED:
        return version_message(ctx, req.name, resolve_alias(ctx, req.name, req.alias))
    return version_messages(ctx, [row])[0]


_VERSION_BY_ALIAS = (
    select(t.model_versions)
    .join(
        t.model_aliases,
        (t.model_aliases.c.name == t.model_versions.c.name)
        & (t.model_aliases.c.version == t.model_versions.c.version),
    )
    .where(
        t.model_aliases.c.name == bindparam("name"),
        t.model_aliases.c.alias == bindparam("alias"),
    )
)


@operations.get("/aliases/history", GetAliasHistory, AliasHistory)
def get_alias_history(ctx: Context, req: GetAliasHistory) -> AliasHistory:
    """Every alias change of a model (or of one alias), oldest first; survives deletion."""
    name = check_model_name(req.name)
    alias = check_alias(req.alias) if req.alias is not None else None
    return AliasHistory(
        entries=ALIASES.history_entries(
            ctx, name, alias, req.max_results, AliasHistoryEntry, load=load_model_row
        )
    )
