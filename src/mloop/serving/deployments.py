"""Deployments: which model versions an endpoint serves, with what traffic policy.

Every change writes a new, immutable deployment that names the one it replaced, moves the
endpoint's pointer, and appends an audited event, all in one transaction under the
endpoint's row lock. A deploy resolves aliases to versions and loads every variant first:
a model that cannot be loaded is refused and the endpoint stays on what it served.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.registry.aliases import resolve_alias
from mloop.registry.checks import check_alias, check_model_name
from mloop.serving import tables as t
from mloop.serving.endpoints import ENDPOINTS, endpoint_message, load_endpoint_row
from mloop.serving.events import record_event
from mloop.serving.loader import MODELS, stored_version
from mloop.serving.ops import operations
from mloop.serving.rollouts import end_running, plan_rollout, start_rollout
from mloop.serving.schemas import (
    Deploy,
    Deployment,
    EndpointName,
    EndpointStatus,
    EventKind,
    Promote,
    Rollback,
    SetWeights,
    Strategy,
    Variant,
    VariantSpec,
)
from mloop.serving.strategies import plan_variants, promote, reweight
from mloop.store.context import Context


def _message(row: Any) -> Deployment:
    return Deployment(
        id=row.id,
        endpoint=row.endpoint,
        strategy=row.strategy,
        variants=[Variant.model_validate(v) for v in json.loads(row.variants_json)],
        state=row.state,
        previous_id=row.previous_id,
        created_by=row.created_by or "",
        created_at=row.created_at,
    )


def load_deployment(ctx: Context, deployment_id: int) -> Deployment:
    row = ctx.conn.execute(select(t.deployments).where(t.deployments.c.id == deployment_id)).first()
    if row is None:
        raise NotFoundError(f"deployment {deployment_id} does not exist", field="deployment")
    return _message(row)


def current_deployment(ctx: Context, endpoint: str) -> Deployment | None:
    """The endpoint's live deployment (None before the first deploy)."""
    row = load_endpoint_row(ctx, endpoint)
    return None if row.current_deployment is None else load_deployment(ctx, row.current_deployment)


def current_deployment_ids(ctx: Context, endpoints: Sequence[str]) -> dict[str, int | None]:
    """The live deployment id of each endpoint that exists (one query; replicas poll it)."""
    e = t.endpoints
    rows = ctx.conn.execute(
        select(e.c.name, e.c.current_deployment).where(e.c.name.in_(list(endpoints)))
    )
    return {r.name: r.current_deployment for r in rows}


def _at(index: int, exc: MloopError) -> MloopError:
    """``exc`` with its field inside ``variants[index]``."""
    where = f"variants[{index}]"
    field = exc.field or "model"
    if field.startswith(where):
        return exc
    if field == "variants":
        return type(exc)(exc.message, field=where)
    return type(exc)(exc.message, field=f"{where}.{field}")


def _resolve(ctx: Context, index: int, spec: VariantSpec) -> int:
    """The version a variant names: its version, or where its alias points now."""
    where = f"variants[{index}]"
    try:
        name = check_model_name(spec.model, "model")
        if (spec.version is None) == (spec.alias is None):
            raise ValidationError(
                f"{where} must name either a version or an alias of model {name!r}",
                field="version",
            )
        if spec.alias is not None:
            return resolve_alias(ctx, name, check_alias(spec.alias, "alias"))
        return int(spec.version or 0)
    except MloopError as exc:
        raise _at(index, exc) from None


def _check_loads(ctx: Context, variants: Sequence[Variant]) -> None:
    """Load every variant now (cached for the runtime), so a broken one is refused here."""
    for index, variant in enumerate(variants):
        try:
            stored = stored_version(ctx, variant.model, variant.version)
            MODELS.load(ctx.artifacts, stored, variant.trusted)
        except MloopError as exc:
            raise _at(index, exc) from None


def switch(
    ctx: Context,
    endpoint: Any,
    strategy: Strategy,
    variants: Sequence[Variant],
    kind: EventKind,
    reason: str,
    detail: dict[str, Any],
    *,
    actor: str | None = None,
    keep_rollout: bool = False,
) -> Deployment:
    """Write a new deployment replacing the live one, point the endpoint at it, audit it
    (in the caller's transaction, under the endpoint's row lock).

    A change made by hand ends the endpoint's running rollout; the rollout's own steps
    (``keep_rollout``) do not.
    """
    previous = endpoint.current_deployment
    now = now_ms()
    if not keep_rollout:
        end_running(ctx, endpoint.name, "cancelled", f"replaced by hand ({kind} by {ctx.actor})")
    new_id = ctx.conn.execute(
        insert(t.deployments)
        .values(
            endpoint=endpoint.name,
            strategy=strategy,
            variants_json=json.dumps([v.model_dump() for v in variants]),
            state="active",
            previous_id=previous,
            created_by=actor or ctx.actor,
            created_at=now,
        )
        .returning(t.deployments.c.id)
    ).scalar_one()
    if previous is not None:
        ctx.conn.execute(
            update(t.deployments).where(t.deployments.c.id == previous).values(state="superseded")
        )
    ENDPOINTS.touch(ctx, endpoint.name, current_deployment=new_id)
    record_event(
        ctx, endpoint.name, kind, previous, new_id, reason=reason, detail=detail, actor=actor
    )
    return load_deployment(ctx, new_id)


def _summary(variants: Sequence[Variant]) -> list[dict[str, Any]]:
    return [
        {"name": v.name, "model": v.model, "version": v.version, "weight": v.weight, "role": v.role}
        for v in variants
    ]


def live_deployment(ctx: Context, endpoint: Any) -> Deployment:
    if endpoint.current_deployment is None:
        raise ValidationError(
            f"endpoint {endpoint.name!r} has no deployment yet: deploy a model first",
            field="endpoint",
        )
    return load_deployment(ctx, endpoint.current_deployment)


@operations.post("/deploy", Deploy, Deployment, role="deployer")
def deploy(ctx: Context, req: Deploy) -> Deployment:
    """Deploy model versions to an endpoint with a strategy; each is loaded first."""
    endpoint = load_endpoint_row(ctx, req.endpoint, lock=True)
    specs = req.variants
    if req.rollout is not None:
        specs = plan_rollout(req.strategy, specs, req.rollout)
    versions = [_resolve(ctx, i, spec) for i, spec in enumerate(specs)]
    variants = plan_variants(req.strategy, specs, versions)
    _check_loads(ctx, variants)
    detail: dict[str, Any] = {"strategy": req.strategy, "variants": _summary(variants)}
    if req.rollout is not None:
        detail["rollout"] = req.rollout.model_dump(exclude_none=True)
    deployed = switch(ctx, endpoint, req.strategy, variants, "deploy", req.reason, detail)
    if req.rollout is not None:
        start_rollout(ctx, deployed, req.rollout)
    return deployed


@operations.post("/weights", SetWeights, Deployment, role="deployer", quick=True)
def set_traffic_weights(ctx: Context, req: SetWeights) -> Deployment:
    """Change the traffic percents of a canary (or the mirrored share of shadows)."""
    endpoint = load_endpoint_row(ctx, req.endpoint, lock=True)
    live = live_deployment(ctx, endpoint)
    variants = reweight(live.strategy, live.variants, req.weights)
    detail = {"weights": {v.name: v.weight for v in variants}}
    return switch(ctx, endpoint, live.strategy, variants, "weights", req.reason, detail)


@operations.post("/promote", Promote, Deployment, role="deployer", quick=True)
def promote_candidate(ctx: Context, req: Promote) -> Deployment:
    """Make a candidate (or shadow) the stable variant; blue/green swaps the two."""
    endpoint = load_endpoint_row(ctx, req.endpoint, lock=True)
    live = live_deployment(ctx, endpoint)
    strategy, variants = promote(live.strategy, live.variants, req.variant)
    promoted = next(v for v in variants if v.role == "stable")
    detail = {"variant": promoted.name, "model": promoted.model, "version": promoted.version}
    return switch(ctx, endpoint, strategy, variants, "promote", req.reason, detail)


@operations.post("/rollback", Rollback, Deployment, role="deployer", quick=True)
def rollback(ctx: Context, req: Rollback) -> Deployment:
    """Go back to the deployment the live one replaced, at once (its models are loaded)."""
    endpoint = load_endpoint_row(ctx, req.endpoint, lock=True)
    live = live_deployment(ctx, endpoint)
    if live.previous_id is None:
        raise ValidationError(
            f"endpoint {endpoint.name!r} has no earlier deployment to roll back to",
            field="endpoint",
        )
    end_running(ctx, endpoint.name, "cancelled", f"rolled back by hand by {ctx.actor}")
    return restore(ctx, endpoint, live, live.previous_id, reason=req.reason)


def restore(
    ctx: Context,
    endpoint: Any,
    live: Deployment,
    target: int,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> Deployment:
    """Make an earlier deployment ``target`` live again (a rollback), in the caller's
    transaction under the endpoint's lock: the live one is marked rolled back."""
    ctx.conn.execute(
        update(t.deployments).where(t.deployments.c.id == live.id).values(state="rolled_back")
    )
    ctx.conn.execute(
        update(t.deployments).where(t.deployments.c.id == target).values(state="active")
    )
    ENDPOINTS.touch(ctx, endpoint.name, current_deployment=target)
    record_event(
        ctx, endpoint.name, "rollback", live.id, target, reason=reason, detail=detail, actor=actor
    )
    return load_deployment(ctx, target)


@operations.get("/status", EndpointName, EndpointStatus, quick=True)
def endpoint_status(ctx: Context, req: EndpointName) -> EndpointStatus:
    """An endpoint, its live deployment and the one a rollback would return to."""
    row = load_endpoint_row(ctx, req.name)
    live = None if row.current_deployment is None else load_deployment(ctx, row.current_deployment)
    previous = None
    if live is not None and live.previous_id is not None:
        previous = load_deployment(ctx, live.previous_id)
    return EndpointStatus(endpoint=endpoint_message(row), deployment=live, previous=previous)
