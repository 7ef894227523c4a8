"""Rollouts: a canary's ramp plan and health rules, and where its ramp stands.

A rollout is started by a canary deploy that carries one (``Deploy.rollout``). It follows
the deployments its evaluator writes (each advance is a new deployment) and ends when the
ramp promotes the candidate (``completed``), a rule rolls it back (``rolled_back``), or a
person changes the endpoint by hand (``cancelled``: a deploy, new weights, a promotion or a
rollback not made by the rollout). One runs per endpoint at a time; ended ones are history.

The UI and the evaluator read rollouts with :func:`get_rollout`, :func:`list_rollouts` and
:func:`running_rollouts`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.serving import tables as t
from mloop.serving.ops import operations
from mloop.serving.schemas import (
    CheckResult,
    Deployment,
    HealthRule,
    ListRollouts,
    RampPlan,
    Rollout,
    RolloutList,
    RolloutSpec,
    RolloutState,
    Strategy,
    VariantSpec,
)
from mloop.store.context import Context

DEFAULT_QUANTILE = 0.99

# The threshold's range per kind, and what it means (for the messages).
_THRESHOLDS: dict[str, tuple[float, float, str]] = {
    "error_rate": (0.0, 1.0, "a share of requests from 0 to 1"),
    "accuracy": (0.0, 1.0, "an accuracy from 0 to 1"),
    "latency": (0.0, math.inf, "milliseconds above 0"),
    "mae": (0.0, math.inf, "an error of 0 or more"),
    "rmse": (0.0, math.inf, "an error of 0 or more"),
}


def _check_ramp(ramp: RampPlan) -> None:
    previous = 0
    for i, step in enumerate(ramp.steps):
        where = f"rollout.ramp.steps[{i}]"
        if not 1 <= step <= 100:
            raise ValidationError(
                f"{where} is {step}; a step is a percent from 1 to 100", field=where
            )
        if step <= previous:
            raise ValidationError(
                f"{where} is {step}; steps must increase (e.g. 5, 25, 50, 100)", field=where
            )
        previous = step
    if ramp.steps[-1] != 100:
        raise ValidationError(
            f"the ramp ends at {ramp.steps[-1]}; end it at 100, where the candidate is "
            "promoted (without a ramp, rules alone watch fixed weights)",
            field="rollout.ramp.steps",
        )


def _check_rule(index: int, rule: HealthRule) -> None:
    where = f"rollout.rules[{index}]"
    if not math.isfinite(rule.threshold):
        raise ValidationError(
            f"{where}.threshold must be a finite number", field=f"{where}.threshold"
        )
    if rule.kind != "latency" and rule.quantile is not None:
        raise ValidationError(
            f"{where}.quantile applies to latency rules only, not {rule.kind}",
            field=f"{where}.quantile",
        )
    if rule.kind != "prediction_shift":
        for name in ("test", "on"):
            if getattr(rule, name) is not None:
                raise ValidationError(
                    f"{where}.{name} applies to prediction_shift rules only, not {rule.kind}",
                    field=f"{where}.{name}",
                )
    if rule.quantile is not None and not 0 < rule.quantile < 1:
        raise ValidationError(
            f"{where}.quantile is {rule.quantile}; give a quantile between 0 and 1 (0.99 = p99)",
            field=f"{where}.quantile",
        )
    if rule.kind == "prediction_shift":
        if rule.test == "psi":
            low, high, what = 0.0, math.inf, "a PSI above 0 (0.1 small, 0.25 large)"
        else:
            low, high, what = 0.0, 1.0, "a p-value between 0 and 1 (e.g. 0.01)"
        if rule.test == "chi2" and rule.on == "confidence":
            raise ValidationError(
                f"{where}.test: chi2 compares classes; confidence is a number: use ks or psi",
                field=f"{where}.test",
            )
    else:
        low, high, what = _THRESHOLDS[rule.kind]
    open_low = rule.kind in ("latency",) or rule.kind == "prediction_shift"
    if rule.threshold < low or rule.threshold > high or (open_low and rule.threshold == low):
        raise ValidationError(
            f"{where}.threshold is {rule.threshold}; a {rule.kind} threshold is {what}",
            field=f"{where}.threshold",
        )


def plan_rollout(
    strategy: Strategy, specs: Sequence[VariantSpec], spec: RolloutSpec
) -> list[VariantSpec]:
    """Check a deploy's rollout and return its variant specs with the candidate's weight set
    to the ramp's first step. A rollout ramps a canary with one candidate."""
    if strategy != "canary":
        raise ValidationError(
            f"a rollout ramps a canary; deploy with strategy canary, not {strategy}",
            field="rollout",
        )
    if spec.ramp is None and not spec.rules:
        raise ValidationError("a rollout needs a ramp plan, health rules or both", field="rollout")
    if spec.ramp is not None:
        _check_ramp(spec.ramp)
    for i, rule in enumerate(spec.rules):
        _check_rule(i, rule)
    others = [
        i
        for i, s in enumerate(specs)
        if (s.role or ("stable" if i == 0 else "candidate")) != "stable"
    ]
    if len(others) != 1:
        raise ValidationError(
            f"a rollout ramps one candidate; this canary has {len(others)}", field="variants"
        )
    if spec.ramp is None:
        return list(specs)
    index = others[0]
    first = spec.ramp.steps[0]
    given = specs[index].weight
    if given is not None and given != first:
        raise ValidationError(
            f"variants[{index}].weight is {given} but the ramp starts at {first}; leave the "
            "weight out (the ramp sets it) or start the ramp there",
            field=f"variants[{index}].weight",
        )
    updated = list(specs)
    updated[index] = specs[index].model_copy(update={"weight": first})
    return updated


def start_rollout(
    ctx: Context, deployment: Deployment, spec: RolloutSpec, *, started_at: int | None = None
) -> Rollout:
    """Record the rollout of a canary ``deployment`` just made (in the deploy's transaction)."""
    stable = next(v for v in deployment.variants if v.role == "stable")
    candidate = next(v for v in deployment.variants if v.role == "candidate")
    now = now_ms() if started_at is None else started_at
    new_id = ctx.conn.execute(
        insert(t.rollouts)
        .values(
            endpoint=deployment.endpoint,
            deployment_id=deployment.id,
            base_deployment=deployment.previous_id,
            stable=stable.name,
            candidate=candidate.name,
            ramp_json=None if spec.ramp is None else spec.ramp.model_dump_json(),
            rules_json=json.dumps([r.model_dump(exclude_none=True) for r in spec.rules]),
            step=0,
            step_started_at=now,
            state="running",
            reason="",
            revision=0,
            created_by=ctx.actor,
            started_at=now,
            updated_at=now,
        )
        .returning(t.rollouts.c.id)
    ).scalar_one()
    found = _load(ctx, new_id)
    assert found is not None
    return found


def rollout_message(row: Any, weights: dict[int, int] | None = None) -> Rollout:
    ramp = None if row.ramp_json is None else RampPlan.model_validate_json(row.ramp_json)
    weight = ramp.steps[row.step] if ramp is not None else (weights or {}).get(row.id, 0)
    return Rollout(
        id=row.id,
        endpoint=row.endpoint,
        deployment_id=row.deployment_id,
        base_deployment=row.base_deployment,
        stable=row.stable,
        candidate=row.candidate,
        ramp=ramp,
        rules=[HealthRule.model_validate(r) for r in json.loads(row.rules_json)],
        step=row.step,
        weight=weight,
        step_started_at=row.step_started_at,
        state=row.state,
        reason=row.reason or "",
        revision=row.revision,
        created_by=row.created_by or "",
        started_at=row.started_at,
        updated_at=row.updated_at,
        last_check=None
        if row.last_check_json is None
        else CheckResult.model_validate_json(row.last_check_json),
    )


def _candidate_weights(ctx: Context, rows: Sequence[Any]) -> dict[int, int]:
    """The candidate's weight in each ramp-less rollout's deployment (fixed weights)."""
    wanted = {r.deployment_id: r for r in rows if r.ramp_json is None}
    if not wanted:
        return {}
    d = t.deployments
    found = ctx.conn.execute(select(d.c.id, d.c.variants_json).where(d.c.id.in_(list(wanted))))
    weights: dict[int, int] = {}
    for dep in found:
        rollout = wanted[dep.id]
        for v in json.loads(dep.variants_json):
            if v["name"] == rollout.candidate:
                weights[rollout.id] = int(v["weight"])
    return weights


def _messages(ctx: Context, rows: Sequence[Any]) -> list[Rollout]:
    weights = _candidate_weights(ctx, rows)
    return [rollout_message(r, weights) for r in rows]


def _load(ctx: Context, rollout_id: int) -> Rollout | None:
    row = ctx.conn.execute(select(t.rollouts).where(t.rollouts.c.id == rollout_id)).first()
    return None if row is None else _messages(ctx, [row])[0]


def get_rollout(ctx: Context, endpoint: str) -> Rollout | None:
    """The endpoint's latest rollout (running or ended), None if it never had one."""
    r = t.rollouts
    row = ctx.conn.execute(
        select(r).where(r.c.endpoint == endpoint).order_by(r.c.id.desc()).limit(1)
    ).first()
    return None if row is None else _messages(ctx, [row])[0]


def list_rollouts(ctx: Context, endpoint: str, limit: int = 20) -> list[Rollout]:
    """The endpoint's rollouts, newest first."""
    r = t.rollouts
    rows = list(
        ctx.conn.execute(
            select(r).where(r.c.endpoint == endpoint).order_by(r.c.id.desc()).limit(limit)
        )
    )
    return _messages(ctx, rows)


def running_rollouts(ctx: Context, endpoints: Sequence[str] | None = None) -> list[Rollout]:
    """The running rollouts, of ``endpoints`` (all when None), oldest first."""
    r = t.rollouts
    query = select(r).where(r.c.state == "running").order_by(r.c.id)
    if endpoints is not None:
        query = query.where(r.c.endpoint.in_(list(endpoints)))
    return _messages(ctx, list(ctx.conn.execute(query)))


def end_running(ctx: Context, endpoint: str, state: RolloutState, reason: str) -> None:
    """End the endpoint's running rollout, if any (a person changed the endpoint)."""
    r = t.rollouts
    ctx.conn.execute(
        update(r)
        .where(r.c.endpoint == endpoint, r.c.state == "running")
        .values(state=state, reason=reason, updated_at=now_ms(), revision=r.c.revision + 1)
    )


def claim(ctx: Context, rollout_id: int, now: int, interval_ms: int) -> bool:
    """Claim the rollout for one check; False when another evaluator checked it less than
    ``interval_ms`` ago (so replicas share the work instead of repeating it)."""
    r = t.rollouts
    claimed = ctx.conn.execute(
        update(r)
        .where(
            r.c.id == rollout_id,
            r.c.state == "running",
            (r.c.checked_at.is_(None)) | (r.c.checked_at <= now - interval_ms),
        )
        .values(checked_at=now)
    )
    return claimed.rowcount == 1


def take_revision(ctx: Context, rollout: Rollout, revision: int) -> bool:
    """Compare and set: bump the rollout's revision if it is still ``revision`` and running.
    Only the evaluator that wins may act; the loser's transaction changes nothing."""
    r = t.rollouts
    done = ctx.conn.execute(
        update(r)
        .where(r.c.id == rollout.id, r.c.revision == revision, r.c.state == "running")
        .values(revision=r.c.revision + 1)
    )
    return done.rowcount == 1


def revision_of(ctx: Context, rollout_id: int) -> int:
    r = t.rollouts
    return int(ctx.conn.execute(select(r.c.revision).where(r.c.id == rollout_id)).scalar_one())


def save_step(
    ctx: Context,
    rollout_id: int,
    *,
    deployment_id: int | None = None,
    step: int | None = None,
    step_started_at: int | None = None,
    state: RolloutState | None = None,
    reason: str | None = None,
    last_check: CheckResult | None = None,
    now: int | None = None,
) -> None:
    values: dict[str, Any] = {"updated_at": now_ms() if now is None else now}
    for name, value in (
        ("deployment_id", deployment_id),
        ("step", step),
        ("step_started_at", step_started_at),
        ("state", state),
        ("reason", reason),
    ):
        if value is not None:
            values[name] = value
    if last_check is not None:
        values["last_check_json"] = last_check.model_dump_json()
    ctx.conn.execute(update(t.rollouts).where(t.rollouts.c.id == rollout_id).values(**values))


@operations.get("/rollouts", ListRollouts, RolloutList, quick=True)
def list_endpoint_rollouts(ctx: Context, req: ListRollouts) -> RolloutList:
    """An endpoint's rollouts, newest first: ramp, step, state and the last check."""
    from mloop.serving.endpoints import load_endpoint_row

    load_endpoint_row(ctx, req.endpoint)
    return RolloutList(rollouts=list_rollouts(ctx, req.endpoint, req.max_results))
