"""Deployment policies: create, update, read and delete (admin), one per name.

A policy is checked whole before it is stored: its names, the endpoint it rolls out on (it
must exist), its ramp plan and health rules (by serving's own rules, as a canary deploy
would check them) and the size of its pipeline parameters. What a run does is decided when
it runs; editing a policy never changes a run already created (the run keeps a copy).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import delete, insert, select, update

from mloop.automation import policy_tables as t
from mloop.automation.ops import operations
from mloop.automation.policy_schemas import (
    MAX_PARAMS_BYTES,
    PIPELINE_PATTERN,
    SUITE_PATTERN,
    ListPolicies,
    Policy,
    PolicyList,
    PolicyName,
    PolicySpec,
)
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.store.context import Context


def check_spec(ctx: Context, spec: PolicySpec) -> PolicySpec:
    """The spec with its names checked, or a ValidationError/NotFoundError naming the field."""
    from mloop.registry.checks import check_alias
    from mloop.serving.endpoints import load_endpoint_row
    from mloop.serving.rollouts import plan_rollout
    from mloop.serving.schemas import VariantSpec

    check_asset_name(spec.name, "name", what="policy name")
    check_asset_name(spec.model, "model", what="model name")
    check_asset_name(spec.endpoint, "endpoint", what="endpoint name")
    check_alias(spec.champion_alias, "champion_alias")
    if not re.fullmatch(PIPELINE_PATTERN, spec.pipeline) or len(spec.pipeline) > 512:
        raise ValidationError(
            f"pipeline {spec.pipeline[:100]!r} is not a reference; give "
            '"package.module:function" of a @pipeline function',
            field="pipeline",
        )
    if not re.fullmatch(SUITE_PATTERN, spec.suite) or len(spec.suite) > 300:
        raise ValidationError(
            f'suite {spec.suite[:100]!r} is not a suite reference; give "name" (its latest '
            'version) or "name/3"',
            field="suite",
        )
    try:
        load_endpoint_row(ctx, spec.endpoint)
    except NotFoundError as exc:
        raise NotFoundError(exc.message, field="endpoint") from None
    if len(json.dumps(spec.params)) > MAX_PARAMS_BYTES:
        raise ValidationError(
            f"params take more than {MAX_PARAMS_BYTES} bytes as JSON; pass a dataset or "
            "file reference instead of the data",
            field="params",
        )
    # The checks a canary deploy with this rollout would make, on a stand-in pair.
    pair = [VariantSpec(model=spec.model, version=1), VariantSpec(model=spec.model, version=2)]
    plan_rollout("canary", pair, spec.rollout)
    if spec.rollout.ramp is None:
        raise ValidationError(
            "a policy's rollout needs a ramp plan ending at 100: reaching 100 is what "
            "promotes the candidate",
            field="rollout.ramp",
        )
    return spec


def spec_json(spec: PolicySpec) -> str:
    return spec.model_dump_json()


def load_spec(raw: str) -> PolicySpec:
    return PolicySpec.model_validate_json(raw)


def policy_message(row: Any) -> Policy:
    spec = load_spec(row.spec_json)
    return Policy(
        **spec.model_dump(exclude={"enabled"}),
        enabled=row.enabled,
        id=row.id,
        active_run=row.active_run,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def load_policy_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    """The policy's row; NotFoundError names it. ``lock`` holds it until the transaction
    ends (PostgreSQL; SQLite's write transactions are serial anyway)."""
    p = t.deployment_policies
    query = select(p).where(p.c.name == check_asset_name(name, "name", what="policy name"))
    if lock:
        query = query.with_for_update()
    row = ctx.conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"deployment policy {name!r} does not exist", field="name")
    return row


def _values(spec: PolicySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "model": spec.model,
        "endpoint": spec.endpoint,
        "enabled": spec.enabled,
        "spec_json": spec_json(spec),
    }


@operations.post("/policies/create", PolicySpec, Policy, role="admin")
def create_deployment_policy(ctx: Context, req: PolicySpec) -> Policy:
    """Create a model's deployment policy (trigger -> pipeline -> gate -> canary ->
    promote or roll back)."""
    spec = check_spec(ctx, req)
    p = t.deployment_policies
    if ctx.conn.execute(select(p.c.id).where(p.c.name == spec.name)).first() is not None:
        raise ConflictError(f"deployment policy {spec.name!r} already exists", field="name")
    now = now_ms()
    ctx.conn.execute(
        insert(p).values(
            **_values(spec), active_run=None, created_by=ctx.actor, created_at=now, updated_at=now
        )
    )
    return policy_message(load_policy_row(ctx, spec.name))


@operations.post("/policies/update", PolicySpec, Policy, role="admin")
def update_deployment_policy(ctx: Context, req: PolicySpec) -> Policy:
    """Replace a policy's spec (runs already created keep the spec they started with)."""
    spec = check_spec(ctx, req)
    row = load_policy_row(ctx, spec.name, lock=True)
    ctx.conn.execute(
        update(t.deployment_policies)
        .where(t.deployment_policies.c.id == row.id)
        .values(**_values(spec), updated_at=now_ms())
    )
    return policy_message(load_policy_row(ctx, spec.name))


@operations.post("/policies/delete", PolicyName, Empty, role="admin")
def delete_deployment_policy(ctx: Context, req: PolicyName) -> Empty:
    """Delete a policy. Its runs and their trail are kept; a run in flight goes on with the
    spec it started with, and queued runs are cancelled when their turn comes."""
    row = load_policy_row(ctx, req.name, lock=True)
    ctx.conn.execute(delete(t.deployment_policies).where(t.deployment_policies.c.id == row.id))
    return Empty()


@operations.get("/policies/get", PolicyName, Policy, quick=True)
def get_deployment_policy(ctx: Context, req: PolicyName) -> Policy:
    return policy_message(load_policy_row(ctx, req.name))


@operations.get("/policies/list", ListPolicies, PolicyList, quick=True)
def list_deployment_policies(ctx: Context, req: ListPolicies) -> PolicyList:
    """Every policy, or those of one model, by name."""
    p = t.deployment_policies
    query = select(p).order_by(p.c.name)
    if req.model is not None:
        query = query.where(p.c.model == check_asset_name(req.model, "model", what="model name"))
    return PolicyList(policies=[policy_message(r) for r in ctx.conn.execute(query)])


def policies_for_model(ctx: Context, model: str) -> list[Policy]:
    """The policies of ``model`` (the timeline reads their endpoints)."""
    return list_deployment_policies(ctx, ListPolicies(model=model)).policies
