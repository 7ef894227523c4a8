"""Endpoints: named, stable addresses that serve whatever their live deployment names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from mloop.core.naming import check_asset_name, decode_page_token, encode_page_token
from mloop.core.operations import Empty
from mloop.core.validation import check_text
from mloop.serving import tables as t
from mloop.serving.events import record_event
from mloop.serving.ops import operations
from mloop.serving.schemas import (
    CreateEndpoint,
    Endpoint,
    EndpointList,
    EndpointName,
    ListEndpoints,
)
from mloop.store.assets import AssetRows
from mloop.store.context import Context

MAX_DESCRIPTION_LENGTH = 5000


def check_endpoint_name(value: object, field: str = "name") -> str:
    """An endpoint name: letters, digits and ``_ . -``, starting with a letter or digit."""
    return check_asset_name(value, field, what="endpoint name")


# Endpoints are named assets (unique in any case); their "versions" are deployments, which
# only the create/load/touch helpers used here never read.
ENDPOINTS = AssetRows(t.endpoints, t.deployments, noun="endpoint", check_name=check_endpoint_name)


def load_endpoint_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    """The endpoint's row; NotFoundError names it. ``lock`` serialises deployment changes."""
    return ENDPOINTS.load(ctx, name, lock=lock)


def endpoint_message(row: Any) -> Endpoint:
    return Endpoint(
        name=row.name,
        description=row.description or "",
        created_by=row.created_by or "",
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        current_deployment=row.current_deployment,
    )


@operations.post("/endpoints/create", CreateEndpoint, Endpoint, quick=True)
def create_endpoint(ctx: Context, req: CreateEndpoint) -> Endpoint:
    """Create an endpoint (it serves nothing until a deployment)."""
    name = check_endpoint_name(req.name)
    description = check_text(
        req.description or "", "description", max_length=MAX_DESCRIPTION_LENGTH
    )
    ENDPOINTS.create(ctx, name, description=description, created_by=ctx.actor)
    return endpoint_message(load_endpoint_row(ctx, name))


@operations.get("/endpoints/get", EndpointName, Endpoint, quick=True)
def get_endpoint(ctx: Context, req: EndpointName) -> Endpoint:
    """An endpoint and the id of its live deployment."""
    return endpoint_message(load_endpoint_row(ctx, req.name))


@operations.get("/endpoints/list", ListEndpoints, EndpointList)
def list_endpoints(ctx: Context, req: ListEndpoints) -> EndpointList:
    """Endpoints by name, optionally those whose name contains a text."""
    offset = decode_page_token(req.page_token)
    query = select(t.endpoints).order_by(t.endpoints.c.name)
    if req.name_contains:
        part = check_text(req.name_contains, "name_contains", max_length=256)
        query = query.where(func.lower(t.endpoints.c.name).contains(part.lower(), autoescape=True))
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return EndpointList(
        endpoints=[endpoint_message(r) for r in rows[: req.max_results]], next_page_token=token
    )


@operations.post("/endpoints/delete", EndpointName, Empty, role="admin")
def delete_endpoint(ctx: Context, req: EndpointName) -> Empty:
    """Delete an endpoint and its deployments; its event history is kept."""
    row = load_endpoint_row(ctx, req.name, lock=True)
    record_event(ctx, row.name, "delete", row.current_deployment, None, reason="")
    ctx.conn.execute(delete(t.rollouts).where(t.rollouts.c.endpoint == row.name))
    ctx.conn.execute(delete(t.deployments).where(t.deployments.c.endpoint == row.name))
    ctx.conn.execute(delete(t.endpoints).where(t.endpoints.c.name == row.name))
    return Empty()
