"""Aliases of dataset versions (``latest`` is implicit; ``golden-test``, ``training``...),
with an append-only audit trail of every set, move and delete."""

from __future__ import annotations

from mloop.core.errors import NotFoundError
from mloop.core.operations import Empty
from mloop.datasets.checks import check_alias, check_dataset_name
from mloop.datasets.common import (
    ALIASES,
    aliases_of,
    load_dataset_row,
    load_version_row,
    touch_dataset,
    version_message,
)
from mloop.datasets.ops import operations
from mloop.datasets.schemas import (
    DatasetAliasHistory,
    DatasetAliasHistoryEntry,
    DatasetAliasRef,
    DatasetVersion,
    DeleteDatasetAlias,
    GetDatasetAliasHistory,
    SetDatasetAlias,
)
from mloop.datasets.versions import set_alias_row
from mloop.store.context import Context


def resolve_alias(ctx: Context, name: str, alias: str) -> int:
    """The version an alias points to."""
    load_dataset_row(ctx, name)
    version = aliases_of(ctx, name).get(check_alias(alias))
    if version is None:
        raise NotFoundError(f"dataset {name!r} has no alias {alias!r}", field="alias")
    return version


@operations.post("/aliases/set", SetDatasetAlias, Empty)
def set_dataset_alias(ctx: Context, req: SetDatasetAlias) -> Empty:
    """Point an alias at a version (creating or moving it); the move is logged."""
    name = load_dataset_row(ctx, req.name, lock=True).name
    alias = check_alias(req.alias)
    load_version_row(ctx, name, req.version)
    set_alias_row(ctx, name, alias, req.version)
    touch_dataset(ctx, name)
    return Empty()


@operations.post("/aliases/delete", DeleteDatasetAlias, Empty)
def delete_dataset_alias(ctx: Context, req: DeleteDatasetAlias) -> Empty:
    """Remove an alias; the deletion is logged."""
    name = load_dataset_row(ctx, req.name, lock=True).name
    alias = check_alias(req.alias)
    if ALIASES.remove(ctx, name, alias) is None:
        raise NotFoundError(f"dataset {name!r} has no alias {alias!r}", field="alias")
    touch_dataset(ctx, name)
    return Empty()


@operations.get("/aliases/get", DatasetAliasRef, DatasetVersion)
def get_dataset_version_by_alias(ctx: Context, req: DatasetAliasRef) -> DatasetVersion:
    """The version an alias points to."""
    name = check_dataset_name(req.name)
    version = resolve_alias(ctx, name, req.alias)
    return version_message(ctx, name, version, include_profile=req.include_profile)


@operations.get("/aliases/history", GetDatasetAliasHistory, DatasetAliasHistory)
def get_dataset_alias_history(ctx: Context, req: GetDatasetAliasHistory) -> DatasetAliasHistory:
    """Every alias change of a dataset (or of one alias), oldest first."""
    name = check_dataset_name(req.name)
    alias = check_alias(req.alias) if req.alias is not None else None
    return DatasetAliasHistory(
        entries=ALIASES.history_entries(
            ctx, name, alias, req.max_results, DatasetAliasHistoryEntry, load=load_dataset_row
        )
    )
