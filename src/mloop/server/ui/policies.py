"""Deployment policy pages: the policies with the runs waiting for approval and the latest
runs; one policy with its spec and runs; one run with its state machine as a strip of steps
(with timings), its trail and links to what it made (pipeline run, candidate, gate
decision, rollout, alias); the approvals waiting for a deployer; and a model's automation
timeline (``/models/{name}/timeline``), drawn as lanes of events on a time axis under bands
showing which version held each alias when, whose ``?version=N`` view answers "why is
version N where it is?".

Approve and Reject post forms and need the deployer role and an identified person, since
the run's trail records who decided: without authentication the page shows the command to
run instead. A run already decided cannot be decided again (409).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Identity
from mloop.automation.approvals import (
    approve_policy_run,
    list_pending_approvals,
    reject_policy_run,
)
from mloop.automation.policies import get_deployment_policy, list_deployment_policies
from mloop.automation.policy_runs import get_policy_run, list_policy_runs
from mloop.automation.policy_schemas import (
    MAX_ID,
    Decide,
    GetTimeline,
    ListPolicies,
    ListPolicyRuns,
    PolicyName,
    RunRef,
    Timeline,
    TimelineEntry,
)
from mloop.automation.timeline import get_model_timeline
from mloop.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.roles import role_allows
from mloop.prompts.approval import is_identified
from mloop.registry.aliases import get_alias_history
from mloop.registry.schemas import GetAliasHistory
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.server.ui.optional_links import link_or_none
from mloop.server.ui.params import checked_name
from mloop.server.ui.policy_steps import run_steps
from mloop.server.ui.timeline_views import timeline_chart
from mloop.store.context import Context

RECENT_RUNS = 50
TIMELINE_ENTRIES = 300
MAX_MOVES = 100_000  # alias moves read for the bands (oldest first: all of them)
MAX_FORM_BYTES = 8192
MAX_COMMENT = 2000


def decide_refusal(viewer: Identity, run_id: int | str = "ID") -> str | None:
    """Why ``viewer`` may not approve or reject from the UI, or None."""
    if not role_allows(viewer.role, "deployer"):
        return (
            f"approving and rejecting need the deployer role; {viewer.name!r} has the "
            f"{viewer.role} role"
        )
    if not is_identified(viewer.name):
        return (
            "the run's trail records who decided, and this server has no authentication, so "
            f"it cannot tell who you are: run `mloop policies approve {run_id}` or `mloop "
            f"policies reject {run_id}` (recorded as your user), or turn authentication on"
        )
    return None


def _checked_run(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise NotFoundError(f"policy run {raw[:20]!r} does not exist", field="id")
    return int(raw)


def _checked_version(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise ValidationError(
            f"version must be a version number, got {raw[:20]!r}", field="version"
        )
    return int(raw)


def entry_url(entry: TimelineEntry) -> str | None:
    """The page of a timeline entry's object, where the UI has one."""
    return link_or_none(entry.link, **entry.ids)


def _list_page(ctx: Context) -> dict[str, Any]:
    return {
        "policies": list_deployment_policies(ctx, ListPolicies()).policies,
        "pending": list_pending_approvals(ctx, Empty()).runs,
        "runs": list_policy_runs(ctx, ListPolicyRuns(max_results=RECENT_RUNS)).runs,
    }


def _policy_page(ctx: Context, name: str) -> dict[str, Any]:
    policy = get_deployment_policy(ctx, PolicyName(name=name))
    runs = list_policy_runs(ctx, ListPolicyRuns(policy=policy.name, max_results=RECENT_RUNS))
    return {"policy": policy, "runs": runs.runs}


def _alias_moves(ctx: Context, name: str) -> list[Any]:
    """Every alias move of the model, for the version bands (none for an unknown model)."""
    try:
        return get_alias_history(ctx, GetAliasHistory(name=name, max_results=MAX_MOVES)).entries
    except NotFoundError:
        return []


def _drawn(found: Timeline) -> list[TimelineEntry]:
    """The entries to draw: a version's drawing shows its chain too (the steps that put it
    where it is), less the chain's steps the entries already show (same kind and object)."""
    shown = {(e.kind, e.link, tuple(sorted(e.ids.items()))) for e in found.entries}
    extra = [e for e in found.chain if (e.kind, e.link, tuple(sorted(e.ids.items()))) not in shown]
    return [*found.entries, *extra]


def _timeline_page(ctx: Context, name: str, version: int | None) -> dict[str, Any]:
    found = get_model_timeline(
        ctx, GetTimeline(model=name, version=version, max_results=TIMELINE_ENTRIES)
    )
    chart = timeline_chart(
        _drawn(found),
        _alias_moves(ctx, found.model),
        url_of=entry_url,
        version_url=lambda v: links.link_to("model_version", name=found.model, version=v),
        chosen=version,
    )
    return {"timeline": found, "chart": chart}


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/automation/policies", response_class=HTMLResponse, name="ui_policies")
    def policies_page(request: Request) -> HTMLResponse:
        viewer = ui.viewer(request)
        data = ui.read(_list_page, viewer)
        return ui.render(
            request, "policy_list.html", viewer, refusal=decide_refusal(viewer), **data
        )

    @r.get("/automation/approvals", response_class=HTMLResponse, name="ui_approvals")
    def approvals_page(request: Request) -> HTMLResponse:
        viewer = ui.viewer(request)
        pending = ui.read(lambda ctx: list_pending_approvals(ctx, Empty()).runs, viewer)
        return ui.render(
            request,
            "policy_approvals.html",
            viewer,
            pending=pending,
            refusal=decide_refusal(viewer),
            max_comment=MAX_COMMENT,
        )

    @r.get("/automation/policies/{name}", response_class=HTMLResponse, name="ui_policy")
    def policy_page(request: Request, name: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        checked = checked_name(
            name,
            lambda value: check_asset_name(value, "name", what="policy name"),
            "deployment policy",
        )
        data = ui.read(lambda ctx: _policy_page(ctx, checked), viewer)
        return ui.render(request, "policy_detail.html", viewer, **data)

    @r.get("/automation/policy-runs/{run_id}", response_class=HTMLResponse, name="ui_policy_run")
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = _checked_run(run_id)
        detail = ui.read(lambda ctx: get_policy_run(ctx, RunRef(id=number)), viewer)
        steps = run_steps(
            detail.run,
            detail.events,
            require_approval=detail.spec.require_approval,
            now=int(time.time() * 1000),
        )
        return ui.render(
            request,
            "policy_run.html",
            viewer,
            detail=detail,
            run=detail.run,
            steps=steps,
            pipeline_url=link_or_none("pipeline_run", run_id=detail.run.pipeline_run_id)
            if detail.run.pipeline_run_id is not None
            else None,
            refusal=decide_refusal(viewer, number),
            max_comment=MAX_COMMENT,
        )

    @r.get("/models/{name}/timeline", response_class=HTMLResponse, name="ui_model_timeline")
    def timeline_page(
        request: Request, name: str, version: str = Query("", max_length=12)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        checked = checked_name(
            name, lambda value: check_asset_name(value, "name", what="model name"), "model"
        )
        chosen = _checked_version(version)
        data = ui.read(lambda ctx: _timeline_page(ctx, checked, chosen), viewer)
        return ui.render(request, "timeline_model.html", viewer, entry_url=entry_url, **data)

    async def decide(request: Request, run_id: str, op: Any) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site decisions are refused", field="Origin")
        identity: Identity = await run_in_threadpool(ui.auth.require, request, "deployer")
        number = _checked_run(run_id)
        refusal = decide_refusal(identity, number)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="id")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise ValidationError("the form is too large", field="comment")
        comment = form_field(parse_form(body), "comment").strip()
        if len(comment) > MAX_COMMENT:
            raise ValidationError(
                f"comment is longer than {MAX_COMMENT} characters", field="comment"
            )
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: op(ctx, Decide(id=number, comment=comment)),
            write=True,
            actor=identity.name,
        )
        return RedirectResponse(links.policy_run(number) + "#trail", status_code=303)

    @r.post("/automation/policy-runs/{run_id}/approve", name="ui_policy_run_approve")
    async def approve_submit(request: Request, run_id: str) -> Response:
        return await decide(request, run_id, approve_policy_run)

    @r.post("/automation/policy-runs/{run_id}/reject", name="ui_policy_run_reject")
    async def reject_submit(request: Request, run_id: str) -> Response:
        return await decide(request, run_id, reject_policy_run)

    return r
