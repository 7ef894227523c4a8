"""Policy runs as records: creating one, moving it from state to state with an audited event
(compare-and-set on the state, so two actors never both move it), and reading runs and
their trail.

Every transition writes one ``policy_run_events`` row with its reason and what the step saw;
a final state also releases the policy's ``active_run`` so the next run may start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update

from mloop.automation import policy_tables as t
from mloop.automation.ops import operations
from mloop.automation.policy_schemas import (
    ACTIVE_STATES,
    ListPolicyRuns,
    PolicyRun,
    PolicyRunDetail,
    PolicyRunEvent,
    PolicyRunList,
    PolicySpec,
    RunRef,
)
from mloop.core.errors import NotFoundError
from mloop.core.naming import check_asset_name
from mloop.core.timeutil import now_ms
from mloop.store.context import Context

MAX_EVENTS = 1000


def run_message(row: Any) -> PolicyRun:
    return PolicyRun(
        id=row.id,
        policy=row.policy,
        model=row.model,
        endpoint=row.endpoint,
        state=row.state,
        active=row.state in ACTIVE_STATES,
        trigger=row.trigger,
        trigger_event_id=row.trigger_event_id,
        pipeline_run_id=row.pipeline_run_id,
        tracking_run_id=row.tracking_run_id,
        candidate_version=row.candidate_version,
        champion_version=row.champion_version,
        gate_id=row.gate_id,
        gate_outcome=row.gate_outcome,
        rollout_id=row.rollout_id,
        approval=row.approval,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_comment=row.decision_comment,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def event_message(row: Any) -> PolicyRunEvent:
    return PolicyRunEvent(
        id=row.id,
        run_id=row.run_id,
        policy=row.policy,
        model=row.model,
        kind=row.kind,
        from_state=row.from_state,
        reason=row.reason,
        detail=json.loads(row.detail_json),
        actor=row.actor,
        at=row.at,
    )


def load_run_row(ctx: Context, run_id: int) -> Any:
    row = ctx.conn.execute(select(t.policy_runs).where(t.policy_runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"policy run {run_id} does not exist", field="id")
    return row


def run_spec(row: Any) -> PolicySpec:
    """The policy's spec as the run copied it when it was created."""
    return PolicySpec.model_validate_json(row.spec_json)


def record_event(
    ctx: Context,
    row: Any,
    kind: str,
    reason: str,
    detail: Mapping[str, Any] | None = None,
    *,
    from_state: str | None = None,
    at: int | None = None,
) -> None:
    """Append one event to the run's trail (the caller's transaction)."""
    ctx.conn.execute(
        insert(t.policy_run_events).values(
            run_id=row.id,
            policy=row.policy,
            model=row.model,
            kind=kind,
            from_state=from_state,
            reason=reason,
            detail_json=json.dumps(dict(detail or {}), default=str),
            actor=ctx.actor,
            at=now_ms() if at is None else at,
        )
    )


def create_run(
    ctx: Context,
    policy: Any,
    *,
    trigger: str,
    trigger_event_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
    reason: str = "",
) -> PolicyRun:
    """A new run of the policy ``policy`` (its row), queued, with its first event."""
    now = now_ms()
    run_id = ctx.conn.execute(
        insert(t.policy_runs)
        .values(
            policy=policy.name,
            model=policy.model,
            endpoint=policy.endpoint,
            spec_json=policy.spec_json,
            state="queued",
            trigger=trigger,
            trigger_event_id=trigger_event_id,
            trigger_payload_json=json.dumps(dict(payload or {}), default=str),
            reason=reason or f"started by {trigger}",
            created_by=ctx.actor,
            created_at=now,
            updated_at=now,
        )
        .returning(t.policy_runs.c.id)
    ).scalar_one()
    row = load_run_row(ctx, run_id)
    detail: dict[str, Any] = {"trigger": trigger}
    if trigger_event_id is not None:
        detail["trigger_event"] = trigger_event_id
    record_event(ctx, row, "queued", row.reason, detail, at=now)
    return run_message(row)


def transition(
    ctx: Context,
    row: Any,
    state: str,
    reason: str,
    detail: Mapping[str, Any] | None = None,
    *,
    event: str | None = None,
    **values: Any,
) -> Any | None:
    """Move the run from the state it was read in (``row.state``) to ``state``, setting
    ``values`` and recording the event; None when someone moved it first (nothing is
    written). A final state releases the policy."""
    runs = t.policy_runs
    now = now_ms()
    if state not in ACTIVE_STATES:
        values["finished_at"] = now
    moved = ctx.conn.execute(
        update(runs)
        .where(runs.c.id == row.id, runs.c.state == row.state)
        .values(state=state, reason=reason, updated_at=now, **values)
    ).rowcount
    if moved != 1:
        return None
    record_event(ctx, row, event or state, reason, detail, from_state=row.state, at=now)
    if state not in ACTIVE_STATES:
        release_policy(ctx, row.policy, row.id)
    return load_run_row(ctx, row.id)


def take_policy(ctx: Context, policy: str, run_id: int) -> bool:
    """Make ``run_id`` the policy's run in flight, if none is (compare and set)."""
    p = t.deployment_policies
    taken = ctx.conn.execute(
        update(p)
        .where(p.c.name == policy, (p.c.active_run.is_(None)) | (p.c.active_run == run_id))
        .values(active_run=run_id)
    ).rowcount
    return taken == 1


def release_policy(ctx: Context, policy: str, run_id: int) -> None:
    p = t.deployment_policies
    ctx.conn.execute(
        update(p).where(p.c.name == policy, p.c.active_run == run_id).values(active_run=None)
    )


def run_events(ctx: Context, run_id: int) -> list[PolicyRunEvent]:
    e = t.policy_run_events
    rows = ctx.conn.execute(
        select(e).where(e.c.run_id == run_id).order_by(e.c.id).limit(MAX_EVENTS)
    )
    return [event_message(r) for r in rows]


def model_events(ctx: Context, model: str, limit: int) -> list[PolicyRunEvent]:
    """The newest ``limit`` events of the runs of every policy of ``model``, newest first."""
    e = t.policy_run_events
    rows = ctx.conn.execute(
        select(e).where(e.c.model == model).order_by(e.c.id.desc()).limit(limit)
    )
    return [event_message(r) for r in rows]


def runs_for_version(ctx: Context, model: str, version: int) -> list[PolicyRun]:
    """The runs whose candidate was ``model`` version ``version``, newest first."""
    r = t.policy_runs
    rows = ctx.conn.execute(
        select(r)
        .where(r.c.model == model, r.c.candidate_version == version)
        .order_by(r.c.id.desc())
    )
    return [run_message(x) for x in rows]


@operations.get("/policy-runs/get", RunRef, PolicyRunDetail, quick=True)
def get_policy_run(ctx: Context, req: RunRef) -> PolicyRunDetail:
    """A policy run, the spec it runs with, and its trail oldest first."""
    row = load_run_row(ctx, req.id)
    return PolicyRunDetail(run=run_message(row), spec=run_spec(row), events=run_events(ctx, row.id))


@operations.get("/policy-runs/list", ListPolicyRuns, PolicyRunList, quick=True)
def list_policy_runs(ctx: Context, req: ListPolicyRuns) -> PolicyRunList:
    """Policy runs, newest first, of a policy, a model or in a state."""
    r = t.policy_runs
    query = select(r).order_by(r.c.id.desc()).limit(req.max_results)
    if req.policy is not None:
        query = query.where(r.c.policy == check_asset_name(req.policy, "policy", what="policy"))
    if req.model is not None:
        query = query.where(r.c.model == check_asset_name(req.model, "model", what="model name"))
    if req.state is not None:
        query = query.where(r.c.state == req.state)
    return PolicyRunList(runs=[run_message(x) for x in ctx.conn.execute(query)])
