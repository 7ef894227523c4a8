"""The automation timeline of a model: everything that moved it toward or away from
production, newest first, each entry linking to its object.

It merges, through each domain's public functions: the firings of the triggers of the
model's deployment policies, the policy runs' transitions, the pipeline runs that trained
candidates, the gate decisions, alias moves (the registry's audited history), the
deployment events of the endpoints that serve the model or roll it out (every canary step,
promotion and rollback) and the alerts raised about those endpoints.

With a version, it also answers "why is version 7 where it is?": the chain trigger ->
pipeline run -> gate decision -> approval -> rollout -> alias move of the policy run that
produced it, or the alias moves made by hand when no policy did.
"""

from __future__ import annotations

from collections.abc import Iterable

from mloop.automation.ops import operations
from mloop.automation.policy_runs import model_events, runs_for_version
from mloop.automation.policy_schemas import (
    EntryKind,
    GetTimeline,
    PolicyRun,
    PolicyRunEvent,
    Timeline,
    TimelineEntry,
)
from mloop.core.naming import check_asset_name
from mloop.store.context import Context

_ALERTS_PER_ENDPOINT = 100
_EVENTS_PER_ENDPOINT = 200

# Transitions shown with their own kind of entry; the rest are "policy".
_EVENT_KINDS: dict[str, EntryKind] = {
    "approved": "approval",
    "rejected": "approval",
    "awaiting_approval": "approval",
    "canary_started": "rollout",
    "canary_advanced": "rollout",
    "rolled_back": "rollout",
}


def _policy_entries(events: Iterable[PolicyRunEvent]) -> list[TimelineEntry]:
    entries = []
    for e in events:
        kind = _EVENT_KINDS.get(e.kind, "policy")
        candidate = e.detail.get("to") if e.kind == "promoted" else None
        entries.append(
            TimelineEntry(
                at=e.at,
                kind=kind,
                title=f"policy {e.policy} run {e.run_id}: {e.kind.replace('_', ' ')}",
                detail=e.reason,
                actor=e.actor,
                version=candidate if isinstance(candidate, int) else None,
                link="policy_run",
                ids={"run_id": e.run_id},
            )
        )
    return entries


def _trigger_entries(ctx: Context, policies: list[str]) -> list[TimelineEntry]:
    from mloop.automation.triggers import trigger_events

    entries = []
    for policy in policies:
        for e in trigger_events(ctx, policy=policy, limit=1000):
            entries.append(
                TimelineEntry(
                    at=e.created_at,
                    kind="trigger",
                    title=f"trigger {e.trigger} ({e.trigger_kind}) {e.outcome}",
                    detail=e.reason,
                    actor=e.actor,
                    link="automation_trigger",
                    ids={"name": e.trigger},
                )
            )
    return entries


def _alias_entries(ctx: Context, model: str) -> list[TimelineEntry]:
    from mloop.core.errors import NotFoundError
    from mloop.registry.aliases import get_alias_history
    from mloop.registry.schemas import GetAliasHistory

    try:
        moves = get_alias_history(ctx, GetAliasHistory(name=model)).entries
    except NotFoundError:  # no such model (yet): nothing was moved
        return []
    entries = []
    for m in moves:
        before = "nothing" if m.from_version is None else f"v{m.from_version}"
        after = "removed" if m.to_version is None else f"v{m.to_version}"
        entries.append(
            TimelineEntry(
                at=m.timestamp,
                kind="alias",
                title=f"alias {m.alias}: {before} -> {after}",
                detail=f"moved by {m.actor}",
                actor=m.actor,
                version=m.to_version,
                link="model_version" if m.to_version is not None else "model",
                ids={"name": model, "version": m.to_version}
                if m.to_version is not None
                else {"name": model},
            )
        )
    return entries


def endpoints_of(ctx: Context, model: str, policy_endpoints: Iterable[str]) -> list[str]:
    """The endpoints of the model's policies and those whose live deployment serves it
    (serving's public listing, then each live deployment)."""
    from mloop.serving.deployments import current_deployment
    from mloop.serving.endpoints import list_endpoints
    from mloop.serving.schemas import ListEndpoints

    found = set(policy_endpoints)

    token = None
    while True:
        page = list_endpoints(ctx, ListEndpoints(max_results=1000, page_token=token))
        for endpoint in page.endpoints:
            if endpoint.name in found or endpoint.current_deployment is None:
                continue
            live = current_deployment(ctx, endpoint.name)
            if live is not None and any(v.model == model for v in live.variants):
                found.add(endpoint.name)
        token = page.next_page_token
        if not token:
            break
    return sorted(found)


def _deployment_entries(ctx: Context, endpoint: str, model: str) -> list[TimelineEntry]:
    from mloop.core.errors import NotFoundError
    from mloop.serving.events import list_deployment_events
    from mloop.serving.schemas import ListEvents

    try:
        events = list_deployment_events(
            ctx, ListEvents(endpoint=endpoint, max_results=_EVENTS_PER_ENDPOINT)
        ).events
    except NotFoundError:
        return []
    entries = []
    for e in events:
        detail = e.detail
        version = detail.get("version") if detail.get("model") == model else None
        entries.append(
            TimelineEntry(
                at=e.timestamp,
                kind="rollout" if "rollout" in detail else "deployment",
                title=f"endpoint {endpoint}: {e.kind}",
                detail=e.reason,
                actor=e.actor,
                version=version if isinstance(version, int) else None,
                link="endpoint_event",
                ids={"name": endpoint, "event_id": e.id},
            )
        )
    return entries


def _alert_entries(ctx: Context, endpoint: str) -> list[TimelineEntry]:
    from mloop.alerts.history import list_alerts
    from mloop.alerts.schemas import ListAlerts

    found = list_alerts(
        ctx, ListAlerts(subject=f"endpoint={endpoint}", max_results=_ALERTS_PER_ENDPOINT)
    ).alerts
    return [
        TimelineEntry(
            at=a.first_seen,
            kind="alert",
            title=f"alert {a.id} ({a.severity}, {a.status}): {a.rule}",
            detail=a.message,
            link="alert",
            ids={"alert_id": a.id},
        )
        for a in found
    ]


def _gate_entries(ctx: Context, model: str) -> list[TimelineEntry]:
    from mloop.evals.decisions import gate_decisions_for_model

    entries = []
    for d in gate_decisions_for_model(ctx, model):
        champion = "no champion" if d.champion is None else f"v{d.champion.version}"
        candidate = d.candidate.version if d.candidate.name == model else None
        entries.append(
            TimelineEntry(
                at=d.created_at,
                kind="gate",
                title=f"gate {d.id} on {d.suite}: {d.outcome} "
                f"({d.candidate.name} v{d.candidate.version} vs {champion})",
                detail="; ".join(d.reasons),
                actor=d.created_by,
                version=candidate,
                link="gate",
                ids={"decision_id": d.id},
            )
        )
    return entries


def _pipeline_entries(ctx: Context, model: str) -> list[TimelineEntry]:
    from mloop.core.errors import NotFoundError
    from mloop.pipelines.queries import pipeline_runs_for_model

    try:
        runs = pipeline_runs_for_model(ctx, model)
    except NotFoundError:  # not registered (yet, or any more): no run registered it
        return []
    entries = []
    for r in runs:
        entries.append(
            TimelineEntry(
                at=r.start_time,
                kind="pipeline",
                title=f"pipeline run {r.id} ({r.pipeline}): {r.status}",
                detail=r.error or f"started by {r.trigger or 'hand'}",
                actor=r.created_by,
                link="pipeline_run",
                ids={"run_id": r.id},
            )
        )
    return entries


def model_timeline(ctx: Context, model: str, *, limit: int = 200) -> list[TimelineEntry]:
    """Every entry about ``model``, newest first, at most ``limit``."""
    from mloop.automation.policies import policies_for_model

    policies = policies_for_model(ctx, model)
    entries = _policy_entries(model_events(ctx, model, limit))
    entries += _trigger_entries(ctx, [p.name for p in policies])
    entries += _alias_entries(ctx, model)
    entries += _gate_entries(ctx, model)
    entries += _pipeline_entries(ctx, model)
    for endpoint in endpoints_of(ctx, model, [p.endpoint for p in policies]):
        entries += _deployment_entries(ctx, endpoint, model)
        entries += _alert_entries(ctx, endpoint)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


# -- why is version N where it is? ------------------------------------------------------------


def _chain(ctx: Context, model: str, run: PolicyRun) -> list[TimelineEntry]:
    """The steps of the policy run that produced a version, oldest first."""
    from mloop.automation.policy_runs import run_events

    chain: list[TimelineEntry] = []
    if run.trigger_event_id is not None:
        from mloop.automation.triggers import trigger_events

        found = trigger_events(ctx, after_id=run.trigger_event_id - 1, limit=1)
        for fired in found:
            if fired.id == run.trigger_event_id:
                chain.append(
                    TimelineEntry(
                        at=fired.created_at,
                        kind="trigger",
                        title=f"trigger {fired.trigger} ({fired.trigger_kind}) fired",
                        detail=fired.reason,
                        actor=fired.actor,
                        link="automation_trigger",
                        ids={"name": fired.trigger},
                    )
                )
    wanted = {
        "queued",
        "gating",
        "stopped_at_gate",
        "awaiting_approval",
        "approved",
        "rejected",
        "canary_started",
        "rolling_out",
        "promoted",
        "rolled_back",
        "failed",
        "cancelled",
    }
    for e in run_events(ctx, run.id):
        if e.kind not in wanted:
            continue
        entry = _policy_entries([e])[0]
        if e.kind == "queued" and run.trigger_event_id is None:
            entry.kind = "trigger"
        elif e.kind == "gating" and run.pipeline_run_id is not None:
            entry.kind = "pipeline"
            entry.title = f"pipeline run {run.pipeline_run_id} trained the candidate"
            entry.link, entry.ids = "pipeline_run", {"run_id": run.pipeline_run_id}
        elif e.kind in ("stopped_at_gate", "awaiting_approval") or (
            e.kind == "rolling_out" and run.gate_id is not None and e.from_state == "gating"
        ):
            entry.kind = "gate"
            entry.title = f"gate decision {run.gate_id}: {run.gate_outcome}"
            if run.gate_id is not None:
                entry.link, entry.ids = "gate", {"decision_id": run.gate_id}
        elif e.kind == "canary_started":
            entry.title = f"canary on endpoint {run.endpoint} (rollout {run.rollout_id})"
            entry.link, entry.ids = "endpoint", {"name": run.endpoint}
        elif e.kind == "promoted":
            entry.kind = "alias"
            entry.title = f"alias moved to v{run.candidate_version} by policy {run.policy}"
            entry.link = "model_version"
            entry.ids = {"name": model, "version": run.candidate_version or 0}
        chain.append(entry)
    return chain


def _explain(model: str, version: int, run: PolicyRun | None, moves: list[TimelineEntry]) -> str:
    if run is not None:
        how = {
            "promoted": "was promoted",
            "rolled_back": "was rolled back",
            "stopped_at_gate": "was stopped at the gate",
            "rejected": "was rejected",
        }.get(run.state, f"is {run.state.replace('_', ' ')}")
        return (
            f"{model} v{version} {how} by policy {run.policy} (run {run.id}, started by "
            f"{run.trigger}): {run.reason}"
        )
    if moves:
        last = moves[-1]
        return f"{model} v{version}: no policy run produced it; {last.title}, {last.detail}"
    return f"{model} v{version}: no policy run produced it and no alias ever pointed at it"


@operations.get("/timeline", GetTimeline, Timeline)
def get_model_timeline(ctx: Context, req: GetTimeline) -> Timeline:
    """A model's automation timeline, newest first; with ``version``, the chain that put
    that version where it is."""
    model = check_asset_name(req.model, "model", what="model name")
    entries = model_timeline(ctx, model, limit=req.max_results)
    if req.version is None:
        return Timeline(model=model, entries=entries)
    entries = [e for e in entries if e.version == req.version]
    runs = runs_for_version(ctx, model, req.version)
    promoted = [r for r in runs if r.state == "promoted"]
    chosen = promoted or runs
    run = chosen[0] if chosen else None
    moves = [e for e in _alias_entries(ctx, model) if e.version == req.version]
    chain = _chain(ctx, model, run) if run is not None else moves
    return Timeline(
        model=model,
        version=req.version,
        entries=entries,
        chain=chain,
        explanation=_explain(model, req.version, run, moves),
    )
