"""Lookups and conversions shared by the registry's handlers."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select

from mloop.core.errors import NotFoundError
from mloop.registry import tables as t
from mloop.registry.checks import check_model_name
from mloop.registry.schemas import ModelVersion, RegisteredModel
from mloop.store.context import Context
from mloop.store.pointers import Pointers

READY = "READY"
DELETED = "DELETED"


def load_model_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    """The registered model's row. ``lock=True`` serialises writers of this model.

    Every change to a model's versions and aliases locks the model row first, so version
    numbers and alias moves are decided one writer at a time (SQLite serialises all writes
    anyway; PostgreSQL takes a row lock).
    """
    check_model_name(name)
    query = select(t.registered_models).where(t.registered_models.c.name == name)
    if lock:
        query = query.with_for_update()
    row = ctx.conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"registered model {name!r} does not exist", field="name")
    return row


def load_version_row(ctx: Context, name: str, version: int) -> Any:
    """A live (not deleted) version's row; NotFoundError names the model or the version."""
    row = ctx.conn.execute(
        select(t.model_versions).where(
            t.model_versions.c.name == name, t.model_versions.c.version == version
        )
    ).first()
    if row is None:
        load_model_row(ctx, name)  # an unknown model is reported as such
    if row is None or row.status == DELETED:
        state = "was deleted" if row is not None else "does not exist"
        raise NotFoundError(f"version {version} of model {name!r} {state}", field="version")
    return row


def latest_version(ctx: Context, name: str) -> int | None:
    value = ctx.conn.execute(
        select(func.max(t.model_versions.c.version)).where(
            t.model_versions.c.name == name, t.model_versions.c.status == READY
        )
    ).scalar()
    return int(value) if value is not None else None


# Built once: this runs on every version lookup (the serving path), and building
# SQLAlchemy expressions costs more than executing them on SQLite.
_VERSION_TAGS = select(
    t.model_version_tags.c.version, t.model_version_tags.c.key, t.model_version_tags.c.value
).where(t.model_version_tags.c.name == bindparam("name"))


def aliases_of(ctx: Context, name: str) -> dict[str, int]:
    return ALIASES.current(ctx, name)


def model_message(ctx: Context, row: Any) -> RegisteredModel:
    tags = {
        r.key: r.value
        for r in ctx.conn.execute(
            select(t.registered_model_tags).where(t.registered_model_tags.c.name == row.name)
        )
    }
    return RegisteredModel(
        name=row.name,
        description=row.description or "",
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
        aliases=aliases_of(ctx, row.name),
        latest_version=latest_version(ctx, row.name),
    )


def _metrics(text: str | None) -> dict[str, float]:
    body = json.loads(text or "{}")
    return {k: math.nan if v is None else float(v) for k, v in body.items()}


def version_messages(ctx: Context, rows: Sequence[Any]) -> list[ModelVersion]:
    """Messages for version rows of one model, with their tags and aliases."""
    if not rows:
        return []
    name = rows[0].name
    numbers = [r.version for r in rows]
    tags: dict[int, dict[str, str]] = {n: {} for n in numbers}
    for tag in ctx.conn.execute(_VERSION_TAGS, {"name": name}):
        if tag.version in tags:
            tags[tag.version][tag.key] = tag.value
    aliases: dict[int, list[str]] = {n: [] for n in numbers}
    for alias, version in aliases_of(ctx, name).items():
        if version in aliases:
            aliases[version].append(alias)
    # Rows come from our own tables: construct the messages without re-validating them.
    return [
        ModelVersion.model_construct(
            name=r.name,
            version=r.version,
            description=r.description or "",
            source=r.source,
            run_id=r.run_id,
            flavor=r.flavor,
            signature=json.loads(r.signature_json) if r.signature_json else None,
            metrics=_metrics(r.metrics_json),
            sha256=r.sha256,
            status=r.status,
            user_id=r.user_id,
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
            tags=tags[r.version],
            aliases=aliases[r.version],
            training_data=json.loads(r.training_data_json) if r.training_data_json else [],
        )
        for r in rows
    ]


def version_message(ctx: Context, name: str, version: int) -> ModelVersion:
    return version_messages(ctx, [load_version_row(ctx, name, version)])[0]


ALIASES = Pointers(t.model_aliases, t.alias_history, "alias")
"""Model aliases and their history (kept even when the model is deleted)."""
