"""What feeds a queue: an endpoint's routing policy (its doubtful predictions, decided per
request) and sampling policies (a random share of an endpoint's or gateway route's
traffic, whatever the confidence).

An endpoint has at most one routing policy. Setting one changes what the endpoint's callers
get back, so it needs the deployer role; sampling only reads traffic (writer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.review import tables as t
from mloop.review.ops import operations
from mloop.review.records import dumps, load_queue_row, loads, queue_names
from mloop.review.schemas import (
    EndpointRef,
    ListPolicies,
    PolicyList,
    PolicyRef,
    RoutingPolicy,
    RoutingSpec,
    SamplingPolicy,
    SamplingSpec,
)
from mloop.store.context import Context

_ROUTING_FIELDS = (
    "criterion",
    "threshold",
    "class_thresholds",
    "on_route",
    "fallback",
    "max_share",
)


def _endpoint_exists(ctx: Context, name: str) -> None:
    from mloop.serving.endpoints import load_endpoint_row

    load_endpoint_row(ctx, name)


def routing_message(row: Any, queue: str) -> RoutingPolicy:
    config = loads(row.config_json)
    return RoutingPolicy(
        id=row.id,
        endpoint=row.target,
        queue=queue,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **{k: config[k] for k in _ROUTING_FIELDS if k in config},
    )


def sampling_message(row: Any, queue: str) -> SamplingPolicy:
    config = loads(row.config_json)
    return SamplingPolicy(
        id=row.id,
        queue=queue,
        endpoint=row.target if row.target_kind == "endpoint" else None,
        route=row.target if row.target_kind == "gateway" else None,
        per_day=config.get("per_day"),
        rate=config.get("rate"),
        enabled=row.enabled,
        sampled_until=row.sampled_until,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@operations.post("/routing/set", RoutingSpec, RoutingPolicy, role="deployer")
def set_review_routing(ctx: Context, req: RoutingSpec) -> RoutingPolicy:
    """Route an endpoint's doubtful predictions to a queue (replacing its policy)."""
    _endpoint_exists(ctx, req.endpoint)
    queue = load_queue_row(ctx, req.queue)
    if req.on_route == "fallback" and req.fallback is None:
        raise ValidationError(
            "on_route 'fallback' needs the fallback answer callers get instead", field="fallback"
        )
    if req.class_thresholds and req.criterion != "confidence":
        raise ValidationError(
            "class_thresholds apply to the confidence criterion only", field="class_thresholds"
        )
    config = {k: getattr(req, k) for k in _ROUTING_FIELDS}
    p = t.review_policies.c
    now = now_ms()
    found = ctx.conn.execute(
        select(p.id).where(
            p.kind == "routing", p.target_kind == "endpoint", p.target == req.endpoint
        )
    ).first()
    if found is None:
        ctx.conn.execute(
            insert(t.review_policies).values(
                queue_id=queue.id,
                kind="routing",
                target_kind="endpoint",
                target=req.endpoint,
                config_json=dumps(config),
                enabled=req.enabled,
                created_by=ctx.actor,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        ctx.conn.execute(
            update(t.review_policies)
            .where(p.id == found.id)
            .values(
                queue_id=queue.id, config_json=dumps(config), enabled=req.enabled, updated_at=now
            )
        )
    policy = routing_policy(ctx, req.endpoint)
    assert policy is not None
    return policy


def routing_policy(ctx: Context, endpoint: str) -> RoutingPolicy | None:
    """The endpoint's routing policy, or None."""
    p = t.review_policies.c
    row = ctx.conn.execute(
        select(t.review_policies).where(
            p.kind == "routing", p.target_kind == "endpoint", p.target == endpoint
        )
    ).first()
    if row is None:
        return None
    return routing_message(row, queue_names(ctx, {row.queue_id})[row.queue_id])


def routing_versions(ctx: Context, endpoints: list[str]) -> dict[str, int]:
    """When each endpoint's routing policy last changed (those that have one)."""
    p = t.review_policies.c
    return dict(
        ctx.conn.execute(
            select(p.target, p.updated_at).where(
                p.kind == "routing", p.target_kind == "endpoint", p.target.in_(endpoints)
            )
        ).all()
    )


@operations.get("/routing/get", EndpointRef, RoutingPolicy, role="review_read")
def get_review_routing(ctx: Context, req: EndpointRef) -> RoutingPolicy:
    """An endpoint's routing policy."""
    policy = routing_policy(ctx, req.endpoint)
    if policy is None:
        raise NotFoundError(f"endpoint {req.endpoint!r} has no review routing", field="endpoint")
    return policy


@operations.post("/routing/delete", EndpointRef, Empty, role="deployer")
def delete_review_routing(ctx: Context, req: EndpointRef) -> Empty:
    """Stop routing an endpoint's predictions (items already queued stay)."""
    p = t.review_policies.c
    removed = ctx.conn.execute(
        delete(t.review_policies).where(
            p.kind == "routing", p.target_kind == "endpoint", p.target == req.endpoint
        )
    ).rowcount
    if not removed:
        raise NotFoundError(f"endpoint {req.endpoint!r} has no review routing", field="endpoint")
    return Empty()


@operations.post("/sampling/set", SamplingSpec, SamplingPolicy)
def set_review_sampling(ctx: Context, req: SamplingSpec) -> SamplingPolicy:
    """Sample an endpoint's predictions or a gateway route's calls into a queue."""
    if (req.endpoint is None) == (req.route is None):
        raise ValidationError("give either endpoint or route", field="endpoint")
    if (req.per_day is None) == (req.rate is None):
        raise ValidationError("give either per_day or rate", field="per_day")
    queue = load_queue_row(ctx, req.queue)
    if req.endpoint is not None:
        _endpoint_exists(ctx, req.endpoint)
        kind, target = "endpoint", req.endpoint
    else:
        # Routes live in the gateway's configuration, which may name this one later: the
        # calls are matched by name, as a gateway monitor does.
        assert req.route is not None
        kind, target = "gateway", check_asset_name(req.route, "route", what="route name")
    config = {"per_day": req.per_day, "rate": req.rate}
    p = t.review_policies.c
    now = now_ms()
    where = (
        p.kind == "sampling",
        p.target_kind == kind,
        p.target == target,
        p.queue_id == queue.id,
    )
    found = ctx.conn.execute(select(p.id).where(*where)).first()
    if found is None:
        # Sampling starts with the hour now under way: traffic from before the policy is
        # not dug up.
        policy_id = ctx.conn.execute(
            insert(t.review_policies).values(
                queue_id=queue.id,
                kind="sampling",
                target_kind=kind,
                target=target,
                config_json=dumps(config),
                enabled=req.enabled,
                sampled_until=now - now % 3_600_000,
                created_by=ctx.actor,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    else:
        policy_id = found.id
        ctx.conn.execute(
            update(t.review_policies)
            .where(p.id == policy_id)
            .values(config_json=dumps(config), enabled=req.enabled, updated_at=now)
        )
    row = ctx.conn.execute(select(t.review_policies).where(p.id == policy_id)).one()
    return sampling_message(row, queue.name)


@operations.post("/sampling/delete", PolicyRef, Empty)
def delete_review_sampling(ctx: Context, req: PolicyRef) -> Empty:
    """Stop a sampling policy (items already sampled stay)."""
    p = t.review_policies.c
    removed = ctx.conn.execute(
        delete(t.review_policies).where(p.id == req.id, p.kind == "sampling")
    ).rowcount
    if not removed:
        raise NotFoundError(f"there is no sampling policy {req.id}", field="id")
    return Empty()


@operations.get("/policies/list", ListPolicies, PolicyList, role="review_read")
def list_review_policies(ctx: Context, req: ListPolicies) -> PolicyList:
    """Routing and sampling policies, of a queue or an endpoint."""
    p = t.review_policies.c
    query = select(t.review_policies).order_by(p.kind, p.target, p.id)
    if req.queue is not None:
        query = query.where(p.queue_id == load_queue_row(ctx, req.queue).id)
    if req.endpoint is not None:
        endpoint = check_asset_name(req.endpoint, "endpoint", what="endpoint name")
        query = query.where(p.target_kind == "endpoint", p.target == endpoint)
    rows = list(ctx.conn.execute(query))
    names = queue_names(ctx, {r.queue_id for r in rows})
    return PolicyList(
        routing=[routing_message(r, names[r.queue_id]) for r in rows if r.kind == "routing"],
        sampling=[sampling_message(r, names[r.queue_id]) for r in rows if r.kind == "sampling"],
    )
