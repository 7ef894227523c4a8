"""Registered models: named containers of versions, with a description, tags and aliases."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from mloop.core.errors import NotFoundError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.registry import tables as t
from mloop.registry.checks import (
    check_description,
    check_model_name,
    check_tag,
    check_tags,
    decode_page_token,
    encode_page_token,
)
from mloop.registry.common import (
    ALIASES,
    MODELS,
    aliases_of,
    load_model_row,
    model_message,
)
from mloop.registry.files import remove_model_files
from mloop.registry.ops import operations
from mloop.registry.schemas import (
    CreateRegisteredModel,
    DeleteRegisteredModelTag,
    ListRegisteredModels,
    ModelName,
    RegisteredModel,
    RegisteredModelList,
    SetRegisteredModelTag,
    UpdateRegisteredModel,
)
from mloop.store.context import Context

touch_model = MODELS.touch


@operations.post("/registered-models/create", CreateRegisteredModel, RegisteredModel)
def create_registered_model(ctx: Context, req: CreateRegisteredModel) -> RegisteredModel:
    """Create a registered model with a unique name."""
    name = check_model_name(req.name)
    description = check_description(req.description)
    tags = check_tags(req.tags)
    MODELS.create(ctx, name, description=description)
    if tags:
        ctx.conn.execute(
            insert(t.registered_model_tags),
            [{"name": name, "key": k, "value": v} for k, v in tags.items()],
        )
    return model_message(ctx, load_model_row(ctx, name))


@operations.get("/registered-models/get", ModelName, RegisteredModel)
def get_registered_model(ctx: Context, req: ModelName) -> RegisteredModel:
    """Get a registered model with its tags, aliases and latest version."""
    return model_message(ctx, load_model_row(ctx, req.name))


@operations.get("/registered-models/list", ListRegisteredModels, RegisteredModelList)
def list_registered_models(ctx: Context, req: ListRegisteredModels) -> RegisteredModelList:
    """List registered models by name, optionally those whose name contains a text."""
    offset = decode_page_token(req.page_token)
    query = select(t.registered_models).order_by(t.registered_models.c.name)
    if req.name_contains:
        query = query.where(
            func.lower(t.registered_models.c.name).contains(
                req.name_contains.lower(), autoescape=True
            )
        )
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return RegisteredModelList(
        registered_models=[model_message(ctx, r) for r in rows[: req.max_results]],
        next_page_token=token,
    )


@operations.post("/registered-models/update", UpdateRegisteredModel, RegisteredModel)
def update_registered_model(ctx: Context, req: UpdateRegisteredModel) -> RegisteredModel:
    """Change a registered model's description."""
    load_model_row(ctx, req.name, lock=True)
    description = check_description(req.description)
    ctx.conn.execute(
        update(t.registered_models)
        .where(t.registered_models.c.name == req.name)
        .values(description=description, last_update_time=now_ms())
    )
    return model_message(ctx, load_model_row(ctx, req.name))


@operations.post("/registered-models/delete", ModelName, Empty, role="admin")
def delete_registered_model(ctx: Context, req: ModelName) -> Empty:
    """Delete a model, its versions, tags, aliases and files. The alias history is kept."""
    name = load_model_row(ctx, req.name, lock=True).name
    for alias, version in aliases_of(ctx, name).items():
        ALIASES.record(ctx, name, alias, version, None)
    # Children are removed explicitly rather than trusting every database to cascade.
    ctx.conn.execute(delete(t.model_aliases).where(t.model_aliases.c.name == name))
    ctx.conn.execute(delete(t.model_version_tags).where(t.model_version_tags.c.name == name))
    ctx.conn.execute(delete(t.model_versions).where(t.model_versions.c.name == name))
    ctx.conn.execute(delete(t.registered_model_tags).where(t.registered_model_tags.c.name == name))
    ctx.conn.execute(delete(t.registered_models).where(t.registered_models.c.name == name))
    remove_model_files(ctx, name)
    return Empty()


@operations.post("/registered-models/set-tag", SetRegisteredModelTag, Empty)
def set_registered_model_tag(ctx: Context, req: SetRegisteredModelTag) -> Empty:
    """Set (or overwrite) a tag on a registered model."""
    load_model_row(ctx, req.name, lock=True)
    key, value = check_tag(req.key, req.value)
    ctx.conn.execute(
        delete(t.registered_model_tags).where(
            t.registered_model_tags.c.name == req.name, t.registered_model_tags.c.key == key
        )
    )
    ctx.conn.execute(insert(t.registered_model_tags).values(name=req.name, key=key, value=value))
    touch_model(ctx, req.name)
    return Empty()


@operations.post("/registered-models/delete-tag", DeleteRegisteredModelTag, Empty)
def delete_registered_model_tag(ctx: Context, req: DeleteRegisteredModelTag) -> Empty:
    """Remove a tag from a registered model."""
    load_model_row(ctx, req.name, lock=True)
    result = ctx.conn.execute(
        delete(t.registered_model_tags).where(
            t.registered_model_tags.c.name == req.name, t.registered_model_tags.c.key == req.key
        )
    )
    if result.rowcount == 0:
        raise NotFoundError(f"registered model {req.name!r} has no tag {req.key!r}", field="key")
    touch_model(ctx, req.name)
    return Empty()
