"""Route rollouts as records: start one, read them, end one by hand, and the audit trail.

A rollout is the route's live traffic policy while it is ``running`` (the candidate gets the
ramp's step) or ``completed`` (the candidate gets everything it applies to). The route's YAML
stays as written: ending a completed rollout by hand (``retire``) returns the route to it, so
retire after moving the prompt's label to the candidate or editing the route's targets.
Starting a rollout on a route retires the one before. The ramp plan and rules are serving's,
checked by serving's rules (:func:`mloop.serving.rollouts.plan_rollout`'s checks).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.llm.rollouts import tables as t
from mloop.llm.rollouts.schemas import (
    EndRouteRollout,
    ListRouteRollouts,
    RouteEventKind,
    RouteRollout,
    RouteRolloutEvent,
    RouteRolloutEventList,
    RouteRolloutList,
    StartRouteRollout,
)
from mloop.serving.ops import operations
from mloop.serving.rollouts import _check_ramp, _check_rule
from mloop.serving.schemas import MAX_REASON, CheckResult, HealthRule, RampPlan
from mloop.store.context import Context

# The rule kinds the call log can answer: it has each call's status and latency, not
# predictions or labels.
RULE_KINDS = ("error_rate", "latency")
LIVE = ("running", "completed")


def record_event(
    ctx: Context,
    route: str,
    rollout_id: int,
    kind: RouteEventKind,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
    at: int | None = None,
) -> None:
    """Append one event (in the caller's transaction)."""
    ctx.conn.execute(
        insert(t.route_rollout_events).values(
            route=route,
            rollout_id=rollout_id,
            kind=kind,
            actor=actor or ctx.actor,
            timestamp=now_ms() if at is None else at,
            reason=check_text(reason, "reason", max_length=MAX_REASON),
            detail_json=json.dumps(detail or {}, sort_keys=True),
        )
    )


def rollout_message(row: Any) -> RouteRollout:
    return RouteRollout(
        id=row.id,
        route=row.route,
        variant_kind=row.variant_kind,
        prompt=row.prompt,
        stable=row.stable,
        candidate=row.candidate,
        ramp=None if row.ramp_json is None else RampPlan.model_validate_json(row.ramp_json),
        rules=[HealthRule.model_validate(r) for r in json.loads(row.rules_json)],
        weight=row.weight,
        step=row.step,
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


def live_rollouts(ctx: Context, routes: Sequence[str] | None = None) -> list[RouteRollout]:
    """The running and completed rollouts (each route has at most one), oldest first."""
    r = t.route_rollouts
    query = select(r).where(r.c.state.in_(LIVE)).order_by(r.c.id)
    if routes is not None:
        query = query.where(r.c.route.in_(list(routes)))
    return [rollout_message(row) for row in ctx.conn.execute(query)]


def _check_rules(req: StartRouteRollout) -> None:
    if req.ramp is None and not req.rules:
        raise ValidationError("a rollout needs a ramp plan, health rules or both", field="ramp")
    try:
        if req.ramp is not None:
            _check_ramp(req.ramp)
        for i, rule in enumerate(req.rules):
            if rule.kind not in RULE_KINDS:
                raise ValidationError(
                    f"rules[{i}].kind is {rule.kind}; a route's rules read the call log, "
                    f"which answers {' and '.join(RULE_KINDS)}",
                    field=f"rules[{i}].kind",
                )
            _check_rule(i, rule)
    except ValidationError as exc:
        # Serving's checks name fields inside a deploy's ``rollout``; here they are top level.
        raise ValidationError(
            exc.message.replace("rollout.", ""), field=(exc.field or "").removeprefix("rollout.")
        ) from None


def _variant(ctx: Context, req: StartRouteRollout) -> tuple[str, str | None, str, str]:
    """(variant kind, prompt reference, stable, candidate) of the request."""
    if (req.target is None) == (req.prompt is None):
        raise ValidationError(
            "name either a target (provider/model) or a prompt (name@label with "
            "prompt_version) to roll out",
            field="target",
        )
    if req.target is not None:
        if req.prompt_version is not None:
            raise ValidationError(
                "prompt_version goes with prompt, not with target", field="prompt_version"
            )
        provider, sep, model = req.target.strip().partition("/")
        if not sep or not provider or not model:
            raise ValidationError(
                f"target is {req.target!r}; write it provider/model (e.g. openai/gpt-4o)",
                field="target",
            )
        return "target", None, "", f"{provider}/{model}"
    from mloop.prompts.checks import parse_prompt_ref
    from mloop.prompts.common import version_message
    from mloop.prompts.labels import resolve_label

    assert req.prompt is not None
    ref = parse_prompt_ref(req.prompt, "prompt")
    if ref.label is None:
        raise ValidationError(
            f"prompt is {req.prompt!r}; name a label (name@production): the requests naming "
            "it are split between its version and the candidate",
            field="prompt",
        )
    if req.prompt_version is None:
        raise ValidationError(
            "prompt_version is missing: give the candidate version", field="prompt_version"
        )
    stable = resolve_label(ctx, ref.name, ref.label)
    version_message(ctx, ref.name, req.prompt_version)  # it exists
    if stable == req.prompt_version:
        raise ValidationError(
            f"{ref.name}@{ref.label} already is version {stable}; give another version",
            field="prompt_version",
        )
    return "prompt", f"{ref.name}@{ref.label}", str(stable), str(req.prompt_version)


def retire_live(ctx: Context, route: str, reason: str) -> list[int]:
    """End the route's live rollout by hand: running ones are cancelled, completed retired."""
    retired: list[int] = []
    for rollout in live_rollouts(ctx, [route]):
        state = "cancelled" if rollout.state == "running" else "retired"
        r = t.route_rollouts
        ctx.conn.execute(
            update(r)
            .where(r.c.id == rollout.id)
            .values(state=state, reason=reason, updated_at=now_ms(), revision=r.c.revision + 1)
        )
        record_event(ctx, route, rollout.id, "retire", reason=reason, detail={"state": state})
        retired.append(rollout.id)
    return retired


@operations.post("/routes/rollouts/start", StartRouteRollout, RouteRollout, role="deployer")
def start_route_rollout(ctx: Context, req: StartRouteRollout) -> RouteRollout:
    """Start a canary of a prompt version or a target model on a gateway route."""
    route = check_asset_name(req.route, "route", what="route name")
    _check_rules(req)
    kind, prompt, stable, candidate = _variant(ctx, req)
    retire_live(ctx, route, f"replaced by a new rollout by {ctx.actor}")
    now = now_ms()
    weight = req.ramp.steps[0] if req.ramp is not None else 100
    r = t.route_rollouts
    new_id = ctx.conn.execute(
        insert(r)
        .values(
            route=route,
            variant_kind=kind,
            prompt=prompt,
            stable=stable,
            candidate=candidate,
            ramp_json=None if req.ramp is None else req.ramp.model_dump_json(),
            rules_json=json.dumps([x.model_dump(exclude_none=True) for x in req.rules]),
            weight=weight,
            step=0,
            step_started_at=now,
            state="running",
            reason="",
            revision=0,
            created_by=ctx.actor,
            started_at=now,
            updated_at=now,
        )
        .returning(r.c.id)
    ).scalar_one()
    detail = {
        "variant_kind": kind,
        "prompt": prompt,
        "stable": stable,
        "candidate": candidate,
        "weight": weight,
        "ramp": None if req.ramp is None else req.ramp.model_dump(),
        "rules": [x.model_dump(exclude_none=True) for x in req.rules],
    }
    record_event(ctx, route, new_id, "start", reason=req.reason, detail=detail)
    row = ctx.conn.execute(select(r).where(r.c.id == new_id)).one()
    return rollout_message(row)


@operations.get("/routes/rollouts", ListRouteRollouts, RouteRolloutList, quick=True)
def list_route_rollouts(ctx: Context, req: ListRouteRollouts) -> RouteRolloutList:
    """A route's rollouts, newest first: candidate, ramp, state and the last check."""
    r = t.route_rollouts
    route = check_asset_name(req.route, "route", what="route name")
    rows = ctx.conn.execute(
        select(r).where(r.c.route == route).order_by(r.c.id.desc()).limit(req.max_results)
    )
    return RouteRolloutList(rollouts=[rollout_message(row) for row in rows])


@operations.post("/routes/rollouts/end", EndRouteRollout, RouteRolloutList, role="deployer")
def end_route_rollout(ctx: Context, req: EndRouteRollout) -> RouteRolloutList:
    """End the route's live rollout: the route serves as its configuration says again."""
    route = check_asset_name(req.route, "route", what="route name")
    ended = retire_live(ctx, route, req.reason or f"ended by hand by {ctx.actor}")
    if not ended:
        raise NotFoundError(f"route {route!r} has no running or completed rollout", field="route")
    r = t.route_rollouts
    rows = ctx.conn.execute(select(r).where(r.c.id.in_(ended)).order_by(r.c.id))
    return RouteRolloutList(rollouts=[rollout_message(row) for row in rows])


@operations.get("/routes/rollouts/events", ListRouteRollouts, RouteRolloutEventList, quick=True)
def list_route_rollout_events(ctx: Context, req: ListRouteRollouts) -> RouteRolloutEventList:
    """A route's rollout events, newest first: starts, steps, rollbacks and why."""
    e = t.route_rollout_events
    route = check_asset_name(req.route, "route", what="route name")
    rows = ctx.conn.execute(
        select(e).where(e.c.route == route).order_by(e.c.id.desc()).limit(req.max_results)
    )
    return RouteRolloutEventList(
        events=[
            RouteRolloutEvent(
                id=x.id,
                route=x.route,
                rollout_id=x.rollout_id,
                kind=x.kind,
                actor=x.actor,
                timestamp=x.timestamp,
                reason=x.reason or "",
                detail=json.loads(x.detail_json or "{}"),
            )
            for x in rows
        ]
    )
