"""Approvals: a policy that requires one stops a run whose candidate passed the gate until
a deployer approves (the canary starts) or rejects it (the run ends). The decision, who made
it, when and why are stored on the run and in its trail; the alias history and the
deployment events then name the policy as the actor of what follows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mloop.automation import policy_tables as t
from mloop.automation.ops import operations
from mloop.automation.policy_runs import load_run_row, run_message, transition
from mloop.automation.policy_schemas import Decide, PolicyRun, PolicyRunList
from mloop.core.errors import ConflictError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.store.context import Context


def _pending(ctx: Context, run_id: int) -> Any:
    row = load_run_row(ctx, run_id)
    if row.state != "awaiting_approval" or row.approval != "pending":
        raise ConflictError(
            f"policy run {run_id} is {row.state}, not awaiting approval", field="id"
        )
    return row


def _decided(ctx: Context, row: Any, state: str, req: Decide, verb: str) -> Any:
    comment = f": {req.comment}" if req.comment else ""
    reason = f"{verb} by {ctx.actor}{comment}"
    moved = transition(
        ctx,
        row,
        state,
        reason,
        {"approval": verb, "comment": req.comment, "gate": row.gate_id},
        event=verb,
        approval=verb,
        decided_by=ctx.actor,
        decided_at=now_ms(),
        decision_comment=req.comment,
    )
    if moved is None:  # decided or cancelled at the same moment by someone else
        raise ConflictError(f"policy run {row.id} was changed meanwhile; look again", field="id")
    return moved


@operations.post("/policy-runs/approve", Decide, PolicyRun, role="deployer")
def approve_policy_run(ctx: Context, req: Decide) -> PolicyRun:
    """Approve a run waiting for approval: its canary starts at the next worker round."""
    from mloop.automation.policy_jobs import enqueue_run

    moved = _decided(ctx, _pending(ctx, req.id), "rolling_out", req, "approved")
    enqueue_run(ctx, moved.id)
    return run_message(moved)


@operations.post("/policy-runs/reject", Decide, PolicyRun, role="deployer")
def reject_policy_run(ctx: Context, req: Decide) -> PolicyRun:
    """Reject a run waiting for approval: it ends, the endpoint and aliases untouched."""
    return run_message(_decided(ctx, _pending(ctx, req.id), "rejected", req, "rejected"))


@operations.get("/approvals/list", Empty, PolicyRunList, quick=True)
def list_pending_approvals(ctx: Context, req: Empty) -> PolicyRunList:
    """Runs waiting for a deployer's decision, oldest first."""
    r = t.policy_runs
    rows = ctx.conn.execute(
        select(r)
        .where(r.c.state == "awaiting_approval", r.c.approval == "pending")
        .order_by(r.c.id)
    )
    return PolicyRunList(runs=[run_message(x) for x in rows])
