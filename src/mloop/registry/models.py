"""Registered models: named containers of versions, with a description, tags and aliases."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, insert, select, update

from mloop.core.errors import ConflictError, NotFoundError
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
from mloop.registry.files import remove_stored_files, stored_locations
from mloop.registry.ops import operations
from mloop.registry.schemas import (
    CreateRegisteredModel,
    DeleteRegisteredModelTag,
    ListRegisteredModels,
    ModelName,
    RegisteredModel,
    RegisteredModelList,
    RenameRegisteredModel,
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
    locations = stored_locations(ctx, name)
    for alias, version in aliases_of(ctx, name).items():
        ALIASES.record(ctx, name, alias, version, None)
    # Children are removed explicitly rather than trusting every database to cascade.
    ctx.conn.execute(delete(t.model_aliases).where(t.model_aliases.c.name == name))
    ctx.conn.execute(delete(t.model_version_tags).where(t.model_version_tags.c.name == name))
    ctx.conn.execute(delete(t.model_versions).where(t.model_versions.c.name == name))
    ctx.conn.execute(delete(t.registered_model_tags).where(t.registered_model_tags.c.name == name))
    ctx.conn.execute(delete(t.registered_models).where(t.registered_models.c.name == name))
    # Each version's recorded directory: a renamed model's files stay under its first name.
    remove_stored_files(ctx, locations)
    return Empty()


def _live_references(ctx: Context, name: str) -> list[str]:
    """What would break if the model's name changed: deployment policies that register and
    gate it, and endpoints whose live deployment serves it. History (gate results, policy
    runs, review items, alias moves) keeps the name it was recorded with."""
    # Imported here: serving and automation build on the registry, not the other way round.
    from mloop.automation import policy_tables as pt
    from mloop.serving import tables as st

    found = [
        f"deployment policy {policy!r}"
        for policy in ctx.conn.execute(
            select(pt.deployment_policies.c.name)
            .where(pt.deployment_policies.c.model == name)
            .order_by(pt.deployment_policies.c.name)
        ).scalars()
    ]
    live = ctx.conn.execute(
        select(st.endpoints.c.name, st.deployments.c.variants_json)
        .join(st.deployments, st.deployments.c.id == st.endpoints.c.current_deployment)
        .order_by(st.endpoints.c.name)
    )
    for endpoint, variants_json in live:
        variants = json.loads(variants_json or "[]")
        if any(isinstance(v, dict) and v.get("model") == name for v in variants):
            found.append(f"endpoint {endpoint!r}")
    return found


@operations.post("/registered-models/rename", RenameRegisteredModel, RegisteredModel, role="admin")
def rename_registered_model(ctx: Context, req: RenameRegisteredModel) -> RegisteredModel:
    """Rename a model with its versions, tags, aliases and alias history.

    Version files stay where they are (each version records its location). Refused (409)
    while a deployment policy or a live endpoint names the model: they refer to it by name,
    and every ``models:/<name>/...`` URI in use elsewhere changes with it, which is why
    renaming needs the admin role.
    """
    name = load_model_row(ctx, req.name, lock=True).name
    new_name = check_model_name(req.new_name, "new_name")
    if new_name == name:
        return model_message(ctx, load_model_row(ctx, name))
    clash = ctx.conn.execute(
        select(t.registered_models.c.name).where(
            func.lower(t.registered_models.c.name) == new_name.lower(),
            t.registered_models.c.name != name,
        )
    ).first()
    if clash is not None:
        detail = "already exists" if clash.name == new_name else f"clashes with {clash.name!r}"
        raise ConflictError(
            f"Registered Model (name={new_name}) {detail} (names are unique regardless of case)",
            field="new_name",
        )
    references = _live_references(ctx, name)
    if references:
        raise ConflictError(
            f"registered model {name!r} cannot be renamed while {', '.join(references)} "
            "refer to it by name; point them at another model or delete them first",
            field="name",
        )
    # The foreign keys of versions, version tags, model tags and aliases cascade the new
    # name (both databases enforce them); the alias history has none, so it moves here.
    ctx.conn.execute(
        update(t.registered_models)
        .where(t.registered_models.c.name == name)
        .values(name=new_name, last_update_time=now_ms())
    )
    ctx.conn.execute(
        update(t.alias_history).where(t.alias_history.c.name == name).values(name=new_name)
    )
    return model_message(ctx, load_model_row(ctx, new_name))


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
