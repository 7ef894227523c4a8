"""Lookups and conversions shared by the registry's handlers."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from mloop.registry import tables as t
from mloop.registry.checks import check_model_name
from mloop.registry.schemas import ModelVersion, RegisteredModel
from mloop.store.assets import DELETED as DELETED
from mloop.store.assets import READY as READY
from mloop.store.assets import AssetRows
from mloop.store.context import Context
from mloop.store.pointers import Pointers

MODELS = AssetRows(
    t.registered_models,
    t.model_versions,
    noun="registered model",
    version_noun="model",
    check_name=check_model_name,
)
"""Registered models and their versions (deleted versions are kept as ``DELETED``)."""

load_model_row = MODELS.load
load_version_row = MODELS.load_version
latest_version = MODELS.latest_version


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
    aliases = ALIASES.by_version(ctx, name, numbers)
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
