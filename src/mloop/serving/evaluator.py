"""The rollout evaluator: checks a running rollout's rules and ramp, and acts on them.

One check (:func:`check_rollout`) reads the window its rules need from the inference log,
decides (:func:`decide`: a breached rule rolls back; a step that has lasted its minimum time
AND served its minimum requests with every rule healthy advances, and the step to 100
promotes), then acts in one transaction under the endpoint's row lock, by compare-and-set
on the rollout's revision: of two evaluators that decided on the same revision, only one
acts, the other's transaction changes nothing. So several replicas may check, and never
both advance or both roll back.

:class:`RolloutEvaluator` runs checks in the background of a serving process (the main
server, ``mloop serve``): every ``interval_s`` it claims each running rollout of the
endpoints it serves (one claim per interval across replicas, so they share the work) and
checks it. The operation ``check_endpoint`` (``mloop endpoints check``) checks at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.serving.deployments import load_deployment, restore, switch
from mloop.serving.endpoints import load_endpoint_row
from mloop.serving.ops import operations
from mloop.serving.rollouts import (
    claim,
    running_rollouts,
    save_step,
    take_revision,
)
from mloop.serving.schemas import CheckEndpoint, CheckResult, Deployment, Rollout, RuleCheck
from mloop.serving.strategies import promote, reweight
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

if TYPE_CHECKING:
    from mloop.serving.health import Window

log = logging.getLogger("mloop.serving.rollouts")

ACTOR = "mloop"
"""Who the audit trail says advanced, promoted or rolled back: the rollout itself."""

Clock = Callable[[], int]


def _variant(deployment: Deployment, name: str) -> tuple[str, int]:
    found = next(v for v in deployment.variants if v.name == name)
    return found.name, found.version


def read_window(store: Any, rollout: Rollout, deployment: Deployment, now: int) -> Window:
    """The requests a check of ``rollout`` needs: each rule's window, and the current step."""
    from mloop.serving import health  # numpy, pyarrow: only when a rollout is checked

    longest = max((r.window_seconds for r in rollout.rules), default=0)
    since = max(rollout.started_at, min(now - longest * 1000, rollout.step_started_at))
    window = health.read_window(
        store,
        rollout.endpoint,
        candidate=_variant(deployment, rollout.candidate),
        stable=_variant(deployment, rollout.stable),
        rules=rollout.rules,
        since=since,
        now=now,
    )
    window.started_at = rollout.started_at
    return window


def _describe(check: RuleCheck) -> str:
    op = "<" if check.kind == "accuracy" else ">"
    if check.kind == "prediction_shift" and "p-value" in check.detail:
        op = "<"
    return (
        f"health rule {check.index} ({check.kind}) breached: {check.observed:.4g} {op} "
        f"{check.threshold:g} over the last {check.window_seconds} s ({check.samples} samples; "
        f"{check.detail})"
    )


def decide(rollout: Rollout, window: Window, now: int) -> CheckResult:
    """What a check does, from the rules' windows and the ramp's step: pure, no I/O."""
    from mloop.serving import health

    checks = [health.check_rule(i, rule, window) for i, rule in enumerate(rollout.rules)]
    served = health.served_mask(window.candidate, rollout.step_started_at)
    step_requests = int(served.sum())
    step_seconds = max(0.0, (now - rollout.step_started_at) / 1000.0)
    result = CheckResult(
        endpoint=rollout.endpoint,
        rollout_id=rollout.id,
        at=now,
        action="wait",
        step=rollout.step,
        weight=rollout.weight,
        step_seconds=step_seconds,
        step_requests=step_requests,
        rules=checks,
        deployment=rollout.deployment_id,
    )
    breached = [c for c in checks if c.status == "breached"]
    if breached:
        return result.model_copy(update={"action": "rollback", "reason": _describe(breached[0])})
    waiting = [c for c in checks if c.status == "waiting"]
    ramp = rollout.ramp
    if ramp is None:
        why = (
            "healthy"
            if not waiting
            else "waiting for data: "
            + "; ".join(f"rule {c.index} ({c.kind}): {c.detail}" for c in waiting)
        )
        return result.model_copy(update={"action": "none", "reason": why})
    missing = [f"rule {c.index} ({c.kind}): {c.detail}" for c in waiting]
    if step_seconds < ramp.min_seconds:
        missing.insert(0, f"the step has lasted {step_seconds:.0f} of {ramp.min_seconds} s")
    if step_requests < ramp.min_requests:
        missing.insert(0, f"{step_requests} of {ramp.min_requests} requests in this step")
    if missing:
        return result.model_copy(update={"reason": "holding: " + "; ".join(missing)})
    healthy = (
        f"step {rollout.step + 1} of {len(ramp.steps)} ({rollout.weight}%) healthy for "
        f"{step_seconds:.0f} s and {step_requests} requests"
    )
    # A ramp of one step ([100]) starts at its last step: once healthy, it promotes.
    last = rollout.step + 1 >= len(ramp.steps)
    following = 100 if last else ramp.steps[rollout.step + 1]
    if following == 100:
        return result.model_copy(
            update={"action": "promote", "reason": f"{healthy}: ramp complete, promoted"}
        )
    return result.model_copy(
        update={"action": "advance", "reason": f"{healthy}: advanced to {following}%"}
    )


def _rollback(
    ctx: Context,
    endpoint: Any,
    rollout: Rollout,
    live: Deployment,
    reason: str,
    detail: dict[str, Any],
) -> Deployment:
    if rollout.base_deployment is not None:
        return restore(
            ctx, endpoint, live, rollout.base_deployment, reason=reason, detail=detail, actor=ACTOR
        )
    # The canary was the endpoint's first deployment: keep only its stable variant.
    stable = next(v for v in live.variants if v.name == rollout.stable)
    only = [stable.model_copy(update={"weight": 100})]
    return switch(
        ctx, endpoint, "single", only, "rollback", reason, detail, actor=ACTOR, keep_rollout=True
    )


def apply(ctx: Context, rollout: Rollout, result: CheckResult) -> CheckResult:
    """Carry out a decision on ``rollout`` as read at its ``revision``, unless the rollout
    moved meanwhile (another evaluator acted, a person changed the endpoint)."""
    endpoint = load_endpoint_row(ctx, rollout.endpoint, lock=True)
    if not take_revision(ctx, rollout, rollout.revision):
        return result.model_copy(
            update={"action": "none", "reason": "another evaluator acted on this rollout first"}
        )
    if endpoint.current_deployment != rollout.deployment_id:  # changes by hand end rollouts
        return result.model_copy(update={"action": "none", "reason": "the endpoint changed"})
    live = load_deployment(ctx, rollout.deployment_id)
    detail: dict[str, Any] = {"rollout": rollout.id, "step": rollout.step, "weight": rollout.weight}
    if result.action in ("wait", "none"):
        save_step(ctx, rollout.id, last_check=result, now=result.at)
        return result
    if result.action == "rollback":
        breached = next(c for c in result.rules if c.status == "breached")
        detail["rule"] = rollout.rules[breached.index].model_dump(exclude_none=True)
        detail.update(
            observed=breached.observed,
            threshold=breached.threshold,
            window_seconds=breached.window_seconds,
            samples=breached.samples,
        )
        new = _rollback(ctx, endpoint, rollout, live, result.reason, detail)
        final = result.model_copy(update={"deployment": new.id})
        save_step(
            ctx,
            rollout.id,
            state="rolled_back",
            reason=result.reason,
            last_check=final,
            now=result.at,
        )
        return final
    detail.update(step_seconds=result.step_seconds, step_requests=result.step_requests)
    if result.action == "promote":
        strategy, variants = promote(live.strategy, live.variants, rollout.candidate)
        detail.update(variant=rollout.candidate)
        new = switch(
            ctx,
            endpoint,
            strategy,
            variants,
            "promote",
            result.reason,
            detail,
            actor=ACTOR,
            keep_rollout=True,
        )
        final = result.model_copy(update={"deployment": new.id})
        save_step(
            ctx,
            rollout.id,
            deployment_id=new.id,
            step=rollout.step + 1,
            state="completed",
            reason=result.reason,
            last_check=final,
            now=result.at,
        )
        return final
    assert rollout.ramp is not None
    weight = rollout.ramp.steps[rollout.step + 1]
    weights = {rollout.candidate: weight, rollout.stable: 100 - weight}
    variants = reweight(live.strategy, live.variants, weights)
    detail.update(weights=weights)
    new = switch(
        ctx,
        endpoint,
        live.strategy,
        variants,
        "advance",
        result.reason,
        detail,
        actor=ACTOR,
        keep_rollout=True,
    )
    final = result.model_copy(update={"deployment": new.id})
    save_step(
        ctx,
        rollout.id,
        deployment_id=new.id,
        step=rollout.step + 1,
        step_started_at=result.at,
        last_check=final,
        now=result.at,
    )
    return final


def _nothing(endpoint: str, now: int) -> CheckResult:
    return CheckResult(endpoint=endpoint, at=now, action="none", reason="no rollout is running")


def check_rollout(runtime: Any, endpoint: str, *, now: int | None = None) -> CheckResult:
    """Check the endpoint's running rollout now (or at ``now``, ms: an injected clock) and
    act on it. Reads the log outside any transaction; acts in one."""
    at = now_ms() if now is None else now

    def read(ctx: Context) -> tuple[Rollout, Deployment] | None:
        load_endpoint_row(ctx, endpoint)
        found = running_rollouts(ctx, [endpoint])
        if not found:
            return None
        return found[0], load_deployment(ctx, found[0].deployment_id)

    current = runtime.run(read, write=False)
    if current is None:
        return _nothing(endpoint, at)
    rollout, deployment = current
    result = decide(rollout, read_window(runtime, rollout, deployment, at), at)
    return runtime.run(lambda ctx: apply(ctx, rollout, result), write=True, actor=ACTOR)


@operations.post("/rollouts/check", CheckEndpoint, CheckResult, role="deployer")
def check_endpoint(ctx: Context, req: CheckEndpoint) -> CheckResult:
    """Check an endpoint's rollout now: roll back on a breached rule, advance a healthy step."""
    at = now_ms()
    load_endpoint_row(ctx, req.endpoint, lock=True)  # one check at a time per endpoint
    found = running_rollouts(ctx, [req.endpoint])
    if not found:
        return _nothing(req.endpoint, at)
    rollout = found[0]
    deployment = load_deployment(ctx, rollout.deployment_id)
    window = read_window(InTransaction(ctx), rollout, deployment, at)
    return apply(ctx, rollout, decide(rollout, window, at))


class RolloutEvaluator(PeriodicTask):
    """Checks running rollouts in a background thread (see the module docstring).

    ``endpoints`` returns the endpoints to watch (those the process serves); None watches
    every endpoint. ``clock`` gives the time in ms (injected in tests).
    """

    def __init__(
        self,
        runtime: Any,
        *,
        endpoints: Callable[[], Sequence[str]] | None = None,
        interval_s: float = 10.0,
        clock: Clock = now_ms,
    ) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-rollouts")
        self.runtime = runtime
        self.checks = 0
        self._endpoints = endpoints
        self._clock = clock

    def run_once(self) -> list[CheckResult]:
        """Claim and check each running rollout not checked by anyone this interval."""
        names = None if self._endpoints is None else list(self._endpoints())
        if names == []:
            return []
        found = self.runtime.run(lambda ctx: running_rollouts(ctx, names), write=False)
        # A claim lasts a little less than the interval, so this process's next round finds
        # it free while another replica's round within the interval does not.
        hold = int(self.interval_s * 900)
        results: list[CheckResult] = []
        for rollout in found:
            now = self._clock()
            claimed = self.runtime.run(
                lambda ctx, r=rollout, at=now: claim(ctx, r.id, at, hold), write=True
            )
            if not claimed:
                continue
            try:
                results.append(check_rollout(self.runtime, rollout.endpoint, now=now))
            except Exception:  # one endpoint's trouble must not stop the others' checks
                log.exception("could not check the rollout of endpoint %s", rollout.endpoint)
            self.checks += 1
        for result in results:
            if result.action in ("advance", "promote", "rollback"):
                log.warning("endpoint %s: %s: %s", result.endpoint, result.action, result.reason)
        return results
