"""The policy run state machine, advanced one step per call by the job kind ``policy``.

::

    queued -> training -> gating -> [awaiting_approval ->] rolling_out -> promoted
                 |           |              |                  |
               failed  stopped_at_gate   rejected     rolled_back | cancelled

:func:`advance_policy_run` does the next step of a run and says whether to call again
(``again_after_s``): a run waits for its turn (another run of the policy is in flight),
for an approval (the decision enqueues the job again) or for its canary. Each step is
re-entrant: it starts from the state stored, moves it by compare-and-set, and records
the transition with its reason, so a worker that dies mid-step leaves a run its retry
finishes, never one moved twice.

The canary is checked here too. Serving's rollout evaluator runs only inside serving
processes (``mloop server``, ``mloop serve``) and only for the endpoints they serve; with
no server (embedded, a demo, a batch worker) nobody else would check it. Every call on a
rolling-out run therefore runs one check of the endpoint's rollout
(:func:`mloop.serving.evaluator.check_rollout`): a check acts only by compare-and-set on
the rollout's revision, so a server's evaluator checking the same rollout at the same
moment never makes it advance or roll back twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mloop.automation import policy_tables as t
from mloop.automation.policy_runs import (
    create_run,
    load_run_row,
    run_message,
    run_spec,
    take_policy,
    transition,
)
from mloop.automation.policy_schemas import ACTIVE_STATES, PolicyRun, PolicySpec
from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.store.context import Context

_MODEL_URI = re.compile(r"^models:/([A-Za-z0-9][A-Za-z0-9_.\-]*)/([1-9][0-9]*)$")


def actor_for(policy: str) -> str:
    """Who the audit trails (alias history, deployment events) say acted: the policy."""
    return f"policy:{policy}"


@dataclass
class Step:
    """What one call did: the run as it stands, and when to call again (None: do not; the
    run is final or waits for a person)."""

    run: PolicyRun
    again_after_s: float | None = None


def start_policy_run(
    ctx: Context,
    name: str,
    *,
    trigger: str,
    trigger_event_id: int | None = None,
    payload: dict[str, Any] | None = None,
    reason: str = "",
) -> PolicyRun:
    """Create a run of policy ``name`` (queued) in the caller's transaction. A disabled
    policy records the run as skipped."""
    from mloop.automation.policies import load_policy_row

    policy = load_policy_row(ctx, name)
    run = create_run(
        ctx,
        policy,
        trigger=trigger,
        trigger_event_id=trigger_event_id,
        payload=payload,
        reason=reason,
    )
    if not policy.enabled:
        transition(ctx, load_run_row(ctx, run.id), "skipped", f"policy {name!r} is disabled")
        return run_message(load_run_row(ctx, run.id))
    return run


MAX_STEPS_PER_CALL = 10  # more than the machine has states: a bound, never reached


def advance_policy_run(
    runtime: Any, run_id: int, *, now: int | None = None, client: Any = None
) -> Step:
    """Do the steps of run ``run_id`` that can be done now, until it waits (for its turn,
    a decision or its canary) or ends. ``now`` (ms) is the clock rollout checks read
    (injected by simulations), ``client`` the SDK client the pipeline and gate use (the
    tracking URI in effect when None)."""
    step = _advance_once(runtime, run_id, now, client)
    for _ in range(MAX_STEPS_PER_CALL):
        if step.again_after_s != 0:
            break
        step = _advance_once(runtime, run_id, now, client)
    return step


def _advance_once(runtime: Any, run_id: int, now: int | None, client: Any) -> Step:
    row = runtime.run(lambda ctx: load_run_row(ctx, run_id), write=False)
    spec = run_spec(row)
    step = _STEPS.get(row.state)
    if step is None:  # final, or waiting for a decision
        return Step(run=run_message(row))
    try:
        return step(runtime, row, spec, now, client)
    except MloopError as exc:
        return _fail(runtime, row, spec, f"{row.state} failed: {exc}")


def _write(runtime: Any, spec: PolicySpec, fn: Any) -> Any:
    return runtime.run(fn, write=True, actor=actor_for(spec.name))


def _fail(runtime: Any, row: Any, spec: PolicySpec, reason: str) -> Step:
    def fail(ctx: Context) -> Any:
        current = load_run_row(ctx, row.id)
        if current.state not in ACTIVE_STATES:
            return current
        return transition(ctx, current, "failed", reason) or load_run_row(ctx, row.id)

    return Step(run=run_message(_write(runtime, spec, fail)))


def _moved(runtime: Any, spec: PolicySpec, row: Any, state: str, reason: str, **kw: Any) -> Step:
    """Move the run and return the step that calls again at once (a next step to do)."""
    detail = kw.pop("detail", None)
    moved = _write(runtime, spec, lambda ctx: transition(ctx, row, state, reason, detail, **kw))
    if moved is None:  # someone else moved it: look again
        return Step(run=_reload(runtime, row.id), again_after_s=0)
    return Step(run=run_message(moved), again_after_s=0 if state in ACTIVE_STATES else None)


def _reload(runtime: Any, run_id: int) -> PolicyRun:
    return run_message(runtime.run(lambda ctx: load_run_row(ctx, run_id), write=False))


# -- queued: wait for the policy's turn ------------------------------------------------------


def _start(runtime: Any, row: Any, spec: PolicySpec, now: int | None, client: Any) -> Step:
    def start(ctx: Context) -> tuple[Any, str | None]:
        p = t.deployment_policies
        policy = ctx.conn.execute(select(p).where(p.c.name == row.policy)).first()
        if policy is None:
            return transition(ctx, row, "cancelled", f"policy {row.policy!r} was deleted"), None
        r = t.policy_runs
        older = ctx.conn.execute(
            select(r.c.id)
            .where(r.c.policy == row.policy, r.c.state == "queued", r.c.id < row.id)
            .limit(1)
        ).scalar()
        busy = policy.active_run if policy.active_run not in (None, row.id) else older
        if busy is None and take_policy(ctx, row.policy, row.id):
            reason = f"pipeline {spec.pipeline} started"
            return transition(ctx, row, "training", reason, {"pipeline": spec.pipeline}), None
        busy = busy or policy.active_run
        if spec.concurrency == "skip":
            why = f"run {busy} of policy {row.policy!r} is in flight (concurrency: skip)"
            return transition(ctx, row, "skipped", why, {"in_flight": busy}), None
        return None, f"waiting for run {busy} of policy {row.policy!r} to end"

    moved, waiting = _write(runtime, spec, start)
    if waiting is not None:
        return Step(run=_reload(runtime, row.id), again_after_s=spec.poll_seconds)
    if moved is None:
        return Step(run=_reload(runtime, row.id), again_after_s=0)
    return Step(run=run_message(moved), again_after_s=0 if moved.state in ACTIVE_STATES else None)


# -- training: run the pipeline, take its candidate -------------------------------------------


def candidate_of(outputs: Any, model: str) -> int:
    """The version of ``model`` a training pipeline returned as ``"models:/<model>/<v>"``
    (its return value, or the one such string among its returned values)."""
    if isinstance(outputs, str):
        values: list[Any] = [outputs]
    elif isinstance(outputs, dict):
        values = list(outputs.values())
    elif isinstance(outputs, list | tuple):
        values = list(outputs)
    else:
        values = []
    found: list[tuple[str, int]] = []
    for value in values:
        match = _MODEL_URI.match(value) if isinstance(value, str) else None
        if match:
            found.append((match.group(1), int(match.group(2))))
    mine = [v for name, v in found if name == model]
    if len(mine) != 1:
        raise ValidationError(
            f"the pipeline must return the candidate it registered as models:/{model}/<version>;"
            f" it returned {str(outputs)[:200]!r}",
            field="pipeline",
        )
    return mine[0]


def _train(runtime: Any, row: Any, spec: PolicySpec, now: int | None, client: Any) -> Step:
    import json

    from mloop.pipelines import run_pipeline

    payload = json.loads(row.trigger_payload_json)
    params = {**spec.params, **(payload.get("params") or {})}
    result = run_pipeline(
        spec.pipeline,
        params,
        trigger=f"policy {spec.name} run {row.id} ({row.trigger})",
        client=client,
    )
    detail = {"pipeline_run": result.id, "status": result.status}
    if result.status != "succeeded":
        reason = f"pipeline run {result.id} {result.status}: {result.error or 'no error given'}"
        return _moved(
            runtime, spec, row, "failed", reason, detail=detail, pipeline_run_id=result.id
        )
    version = candidate_of(result.outputs, spec.model)
    detail["candidate"] = f"models:/{spec.model}/{version}"
    reason = f"pipeline run {result.id} registered candidate {spec.model} v{version}"
    return _moved(
        runtime,
        spec,
        row,
        "gating",
        reason,
        detail=detail,
        pipeline_run_id=result.id,
        tracking_run_id=result.run_id,
        candidate_version=version,
    )


# -- gating: the candidate against the champion ---------------------------------------------


def champion_version(ctx: Context, model: str, alias: str) -> int | None:
    from mloop.registry.aliases import resolve_alias

    try:
        return resolve_alias(ctx, model, alias)
    except NotFoundError:
        return None


def _gate(runtime: Any, row: Any, spec: PolicySpec, now: int | None, client: Any) -> Step:
    from mloop.evals import gate

    champion = runtime.run(
        lambda ctx: champion_version(ctx, spec.model, spec.champion_alias), write=False
    )
    candidate = f"models:/{spec.model}/{row.candidate_version}"
    against = None if champion is None else f"models:/{spec.model}@{spec.champion_alias}"
    decision = gate(candidate, against, spec.suite, trusted=spec.trusted, client=client)
    detail: dict[str, Any] = {
        "gate": decision.id,
        "outcome": decision.outcome,
        "passed": decision.passed,
        "reasons": list(decision.reasons),
        "champion": None if champion is None else f"models:/{spec.model}/{champion}",
    }
    reasons = "; ".join(decision.reasons) or decision.outcome
    values: dict[str, Any] = {"gate_id": decision.id, "gate_outcome": decision.outcome}
    values["champion_version"] = champion
    if not decision.passed:
        why = f"gate {decision.id} {decision.outcome}: {reasons}"
        return _moved(runtime, spec, row, "stopped_at_gate", why, detail=detail, **values)
    if spec.require_approval:
        why = f"gate {decision.id} passed ({reasons}); waiting for a deployer's approval"
        moved = _write(
            runtime,
            spec,
            lambda ctx: transition(
                ctx, row, "awaiting_approval", why, detail, approval="pending", **values
            ),
        )
        if moved is None:
            return Step(run=_reload(runtime, row.id), again_after_s=0)
        return Step(run=run_message(moved))  # the decision enqueues the job again
    why = f"gate {decision.id} passed: {reasons}"
    return _moved(runtime, spec, row, "rolling_out", why, detail=detail, **values)


# -- rolling out: the canary, then the alias -------------------------------------------------


def _roll_out(runtime: Any, row: Any, spec: PolicySpec, now: int | None, client: Any) -> Step:
    if row.rollout_id is None:
        return _deploy(runtime, row, spec)
    return _watch(runtime, row, spec, now)


def _deploy(runtime: Any, row: Any, spec: PolicySpec) -> Step:
    """Start the canary of the candidate against what the endpoint serves, in one
    transaction under the endpoint's lock (serving's deploy)."""
    from mloop.serving.deployments import current_deployment, deploy
    from mloop.serving.rollouts import get_rollout, running_rollouts
    from mloop.serving.schemas import Deploy, VariantSpec

    version = int(row.candidate_version)

    def start(ctx: Context) -> tuple[Any, str | None]:
        live = current_deployment(ctx, spec.endpoint)
        if running_rollouts(ctx, [spec.endpoint]):
            return None, f"endpoint {spec.endpoint!r} has a rollout running; waiting for it"
        candidate = VariantSpec(model=spec.model, version=version, trusted=spec.trusted)
        if live is None:
            deployed = deploy(
                ctx,
                Deploy(
                    endpoint=spec.endpoint,
                    variants=[candidate],
                    reason=f"policy {spec.name} run {row.id}: first release of {spec.model}",
                ),
            )
            why = (
                f"endpoint {spec.endpoint!r} served nothing: {spec.model} v{version} deployed "
                f"alone (deployment {deployed.id}), no canary to compare with"
            )
            return _promote(ctx, row, spec, why, {"deployment": deployed.id}), None
        stable = next((v for v in live.variants if v.role == "stable"), live.variants[0])
        if stable.model == spec.model and stable.version == version:
            why = f"endpoint {spec.endpoint!r} already serves {spec.model} v{version}"
            return _promote(ctx, row, spec, why, {"deployment": live.id}), None
        base = VariantSpec(
            model=stable.model, version=stable.version, name=stable.name, trusted=stable.trusted
        )
        deployed = deploy(
            ctx,
            Deploy(
                endpoint=spec.endpoint,
                strategy="canary",
                variants=[base, candidate],
                rollout=spec.rollout,
                reason=f"policy {spec.name} run {row.id}: canary of {spec.model} v{version}",
            ),
        )
        rollout = get_rollout(ctx, spec.endpoint)
        assert rollout is not None and rollout.deployment_id == deployed.id
        ramp = spec.rollout.ramp.steps if spec.rollout.ramp else []
        why = (
            f"canary of {spec.model} v{version} against {stable.model} v{stable.version} on "
            f"{spec.endpoint!r}: rollout {rollout.id}, ramp {ramp}"
        )
        detail = {"rollout": rollout.id, "deployment": deployed.id, "ramp": ramp}
        moved = transition(
            ctx, row, "rolling_out", why, detail, event="canary_started", rollout_id=rollout.id
        )
        return moved, None

    moved, waiting = _write(runtime, spec, start)
    if waiting is not None:
        return Step(run=_reload(runtime, row.id), again_after_s=spec.poll_seconds)
    if moved is None:
        return Step(run=_reload(runtime, row.id), again_after_s=0)
    active = moved.state in ACTIVE_STATES
    return Step(run=run_message(moved), again_after_s=spec.poll_seconds if active else None)


def _promote(ctx: Context, row: Any, spec: PolicySpec, why: str, detail: dict[str, Any]) -> Any:
    """Move the champion alias to the candidate (registry's audited set_alias) and end the
    run as promoted."""
    from mloop.registry.aliases import set_alias
    from mloop.registry.schemas import SetAlias

    version = int(row.candidate_version)
    before = champion_version(ctx, spec.model, spec.champion_alias)
    set_alias(ctx, SetAlias(name=spec.model, alias=spec.champion_alias, version=version))
    detail = {**detail, "alias": spec.champion_alias, "from": before, "to": version}
    moved_from = "none" if before is None else f"v{before}"
    reason = f"{why}; {spec.champion_alias} moved from {moved_from} to v{version}"
    return transition(ctx, row, "promoted", reason, detail)


def _watch(runtime: Any, row: Any, spec: PolicySpec, now: int | None) -> Step:
    """Check the canary once (see the module docstring) and follow where it stands."""
    from mloop.serving.evaluator import check_rollout
    from mloop.serving.rollouts import list_rollouts

    at = now_ms() if now is None else now
    check = check_rollout(runtime, spec.endpoint, now=at)

    def follow(ctx: Context) -> Any:
        current = load_run_row(ctx, row.id)
        if current.state != "rolling_out":
            return current
        found = [r for r in list_rollouts(ctx, spec.endpoint, 100) if r.id == row.rollout_id]
        if not found:
            return transition(ctx, current, "failed", f"rollout {row.rollout_id} is gone")
        rollout = found[0]
        detail = {"rollout": rollout.id, "step": rollout.step, "weight": rollout.weight}
        if rollout.state == "running":
            if check.rollout_id == rollout.id and check.action == "advance":
                return transition(
                    ctx, current, "rolling_out", check.reason, detail, event="canary_advanced"
                )
            return current
        if rollout.state == "completed":
            return _promote(ctx, current, spec, f"rollout {rollout.id}: {rollout.reason}", detail)
        if rollout.state == "rolled_back":
            why = f"rollout {rollout.id} rolled back: {rollout.reason}"
            return transition(ctx, current, "rolled_back", why, detail)
        why = f"rollout {rollout.id} was cancelled: {rollout.reason}"
        return transition(ctx, current, "cancelled", why, detail)

    moved = _write(runtime, spec, follow)
    if moved is None:
        return Step(run=_reload(runtime, row.id), again_after_s=0)
    active = moved.state in ACTIVE_STATES
    return Step(run=run_message(moved), again_after_s=spec.poll_seconds if active else None)


_STEPS = {
    "queued": _start,
    "training": _train,
    "gating": _gate,
    "rolling_out": _roll_out,
}
