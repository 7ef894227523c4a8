"""Gate decisions: stored as the SDK computed them, read by id, listed by model or suite.

The SDK computes a decision where the models and data are (embedded or remote, like
MLflow's ``evaluate``) and records it here. Recording checks that the suite version and
both model versions exist, so a stored decision always names real things.
:func:`gate_decisions_for_model` is the in-process read the automation timeline uses.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, or_, select

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.timeutil import now_ms
from mloop.evals import tables as t
from mloop.evals.ops import operations
from mloop.evals.schemas import (
    DecisionList,
    DecisionRef,
    GateDecision,
    GateDecisionIn,
    ListDecisions,
    ModelRef,
)
from mloop.evals.suites import load_suite_version
from mloop.store.context import Context

# What the columns hold is not repeated in detail_json.
_COLUMNS = {"suite", "suite_version", "candidate", "champion", "outcome", "passed"}


def _check_model(ctx: Context, ref: ModelRef, field: str) -> None:
    from mloop.registry.schemas import ModelVersionRef
    from mloop.registry.versions import get_model_version

    try:
        get_model_version(ctx, ModelVersionRef(name=ref.name, version=ref.version))
    except NotFoundError as exc:
        raise NotFoundError(f"{field}: {exc}", field=field) from None


def _check_consistent(req: GateDecisionIn) -> None:
    """The outcome agrees with the models and with ``passed``."""
    same = req.champion is not None and req.champion == req.candidate
    if same != (req.outcome == "same_version"):
        raise ValidationError(
            "outcome same_version is for a candidate that is the champion, and only for it",
            field="outcome",
        )
    if req.outcome == "no_champion" and req.champion is not None:
        raise ValidationError(
            "outcome no_champion is for a decision without a champion",
            field="outcome",
        )
    if req.passed != (req.outcome in ("passed", "no_champion")):
        raise ValidationError(f"passed contradicts outcome {req.outcome!r}", field="passed")


@operations.post("/gates/record", GateDecisionIn, GateDecision)
def record_gate_decision(ctx: Context, req: GateDecisionIn) -> GateDecision:
    """Store a gate decision the SDK computed (``mloop.evals.gate`` calls this)."""
    _check_consistent(req)
    suite = load_suite_version(ctx, req.suite, req.suite_version)
    _check_model(ctx, req.candidate, "candidate")
    if req.champion is not None:
        _check_model(ctx, req.champion, "champion")
    detail = req.model_dump(mode="json", exclude=_COLUMNS)
    detail["dataset"] = [suite.dataset_name, suite.dataset_version]
    now = now_ms()
    result = ctx.conn.execute(
        insert(t.gate_decisions).values(
            suite=suite.name,
            suite_version=suite.version,
            candidate_name=req.candidate.name,
            candidate_version=req.candidate.version,
            champion_name=req.champion.name if req.champion else None,
            champion_version=req.champion.version if req.champion else None,
            outcome=req.outcome,
            passed=req.passed,
            candidate_run_id=req.candidate_run_id,
            champion_run_id=req.champion_run_id,
            detail_json=json.dumps(detail, allow_nan=False),
            created_by=ctx.actor,
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return _load(ctx, int(key[0]))


def _message(row: Any) -> GateDecision:
    detail = json.loads(row.detail_json)
    dataset_name, dataset_version = detail.pop("dataset")
    return GateDecision(
        id=row.id,
        suite=row.suite,
        suite_version=row.suite_version,
        candidate=ModelRef(name=row.candidate_name, version=row.candidate_version),
        champion=(
            ModelRef(name=row.champion_name, version=row.champion_version)
            if row.champion_name is not None
            else None
        ),
        outcome=row.outcome,
        passed=row.passed,
        dataset_name=dataset_name,
        dataset_version=dataset_version,
        created_by=row.created_by,
        created_at=row.created_at,
        **detail,
    )


def _load(ctx: Context, decision_id: int) -> GateDecision:
    row = ctx.conn.execute(
        select(t.gate_decisions).where(t.gate_decisions.c.id == decision_id)
    ).first()
    if row is None:
        raise NotFoundError(f"gate decision {decision_id} does not exist", field="id")
    return _message(row)


@operations.get("/gates/get", DecisionRef, GateDecision, quick=True)
def get_gate_decision(ctx: Context, req: DecisionRef) -> GateDecision:
    """One gate decision with every number and reason."""
    return _load(ctx, req.id)


@operations.get("/gates/list", ListDecisions, DecisionList)
def list_gate_decisions(ctx: Context, req: ListDecisions) -> DecisionList:
    """Gate decisions, newest first, of a model (as candidate or champion) or a suite."""
    if req.model is not None:
        check_asset_name(req.model, "model", what="model name")
    if req.suite is not None:
        check_asset_name(req.suite, "suite", what="suite name")
    g = t.gate_decisions.c
    query = select(t.gate_decisions).order_by(g.id.desc()).limit(req.max_results)
    if req.model is not None:
        query = query.where(or_(g.candidate_name == req.model, g.champion_name == req.model))
    if req.suite is not None:
        query = query.where(g.suite == req.suite)
    if req.before is not None:
        query = query.where(g.id < req.before)
    return DecisionList(decisions=[_message(r) for r in ctx.conn.execute(query)])


def gate_decisions_for_model(ctx: Context, model_name: str) -> list[GateDecision]:
    """Every gate decision about ``model_name`` (as candidate or champion), oldest first:
    the automation timeline's read."""
    g = t.gate_decisions.c
    rows = ctx.conn.execute(
        select(t.gate_decisions)
        .where(or_(g.candidate_name == model_name, g.champion_name == model_name))
        .order_by(g.id)
    )
    return [_message(r) for r in rows]
