"""Checking a route rollout: its health rules over the call log, then advance, promote or
roll back, as serving's evaluator does for endpoints.

The window is read from the call log (``llm_calls``: each call's time, status and latency)
rather than the inference log: the candidate's calls are the route's calls that used the
candidate prompt version, or went to the candidate target. Serving's :func:`decide` then
decides on it unchanged, and the action is taken by compare-and-set on the rollout's
revision, so two gateway replicas checking at once never both act.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select, update

from mloop.core.naming import check_asset_name
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.llm.calls.tables import llm_calls
from mloop.llm.rollouts import tables as t
from mloop.llm.rollouts.policy import live_rollouts, record_event
from mloop.llm.rollouts.schemas import RouteName, RouteRollout
from mloop.serving.ops import operations
from mloop.serving.schemas import CheckResult, Rollout
from mloop.store.context import Context

log = logging.getLogger("mloop.llm.rollouts")

ACTOR = "mloop"
"""Who the audit trail says advanced, promoted or rolled back: the rollout itself."""


def _of_candidate(rollout: RouteRollout) -> Any:
    c = llm_calls.c
    if rollout.variant_kind == "prompt":
        name = (rollout.prompt or "").partition("@")[0]
        return (c.prompt_name == name) & (c.prompt_version == int(rollout.candidate))
    provider, _, model = rollout.candidate.partition("/")
    return (c.provider == provider) & (c.model == model)


def read_window(ctx: Context, rollout: RouteRollout, now: int) -> Any:
    """The candidate's calls that the rules and the current step need, as serving's
    :class:`~mloop.serving.health.Window` (the stable side is left empty: the call-log
    rules judge the candidate alone)."""
    from mloop.serving.health import Side, Window

    longest = max((r.window_seconds for r in rollout.rules), default=0)
    since = max(rollout.started_at, min(now - longest * 1000, rollout.step_started_at))
    c = llm_calls.c
    rows = ctx.conn.execute(
        select(c.time, c.status, c.http_status, c.latency_ms)
        .where(c.route == rollout.route, c.time >= since, c.time <= now, _of_candidate(rollout))
        .order_by(c.time)
    ).all()
    side = Side(
        time=np.fromiter((r.time for r in rows), dtype=np.int64, count=len(rows)),
        status=np.asarray([_status(r.status, r.http_status) for r in rows], dtype=object),
        latency_ms=np.fromiter((r.latency_ms for r in rows), dtype=float, count=len(rows)),
        confidence=np.full(len(rows), np.nan),
    )
    return Window(now=now, started_at=rollout.started_at, candidate=side, stable=Side())


def _status(status: str, http_status: int) -> str:
    """A call as serving's rules count it: a failure the caller caused (a bad request, a
    guardrail's block, the caller's rate limit) is "invalid" and not held against the
    candidate."""
    if status == "ok":
        return "ok"
    if status == "error" and (http_status >= 500 or http_status == 0):
        return "error"
    return "invalid"


def as_serving(rollout: RouteRollout) -> Rollout:
    """The rollout in serving's shape, for serving's :func:`decide`."""
    return Rollout(
        id=rollout.id,
        endpoint=rollout.route,
        deployment_id=0,
        base_deployment=None,
        stable=rollout.stable or "route",
        candidate=rollout.candidate,
        ramp=rollout.ramp,
        rules=rollout.rules,
        step=rollout.step,
        weight=rollout.weight,
        step_started_at=rollout.step_started_at,
        state="running",
        revision=rollout.revision,
        created_by=rollout.created_by,
        started_at=rollout.started_at,
        updated_at=rollout.updated_at,
    )


def decide(rollout: RouteRollout, window: Any, now: int) -> CheckResult:
    from mloop.serving.evaluator import decide as serving_decide

    result = serving_decide(as_serving(rollout), window, now)
    return result.model_copy(update={"deployment": None})


def apply(ctx: Context, rollout: RouteRollout, result: CheckResult) -> CheckResult:
    """Carry out a decision on ``rollout`` as read at its revision, unless it moved meanwhile
    (another evaluator acted, a person ended it)."""
    r = t.route_rollouts
    values: dict[str, Any] = {
        "revision": r.c.revision + 1,
        "updated_at": result.at,
        "last_check_json": result.model_dump_json(),
    }
    detail: dict[str, Any] = {"step": rollout.step, "weight": rollout.weight}
    if result.action == "rollback":
        breached = next(c for c in result.rules if c.status == "breached")
        values.update(state="rolled_back", reason=result.reason, weight=0)
        detail.update(
            rule=rollout.rules[breached.index].model_dump(exclude_none=True),
            observed=breached.observed,
            threshold=breached.threshold,
            window_seconds=breached.window_seconds,
            samples=breached.samples,
        )
    elif result.action in ("advance", "promote"):
        assert rollout.ramp is not None
        weight = rollout.ramp.steps[rollout.step + 1]
        values.update(weight=weight, step=rollout.step + 1, step_started_at=result.at)
        if result.action == "promote":
            values.update(state="completed", reason=result.reason)
        detail.update(
            to_weight=weight, step_seconds=result.step_seconds, step_requests=result.step_requests
        )
    done = ctx.conn.execute(
        update(r)
        .where(r.c.id == rollout.id, r.c.revision == rollout.revision, r.c.state == "running")
        .values(**values)
    )
    if done.rowcount != 1:
        return result.model_copy(
            update={"action": "none", "reason": "the rollout moved meanwhile; nothing done"}
        )
    if result.action in ("advance", "promote", "rollback"):
        record_event(
            ctx,
            rollout.route,
            rollout.id,
            result.action,
            reason=result.reason,
            detail=detail,
            actor=ACTOR,
            at=result.at,
        )
    return result


def _nothing(route: str, now: int) -> CheckResult:
    return CheckResult(endpoint=route, at=now, action="none", reason="no rollout is running")


def check_in(ctx: Context, route: str, now: int) -> CheckResult:
    """Check the route's running rollout at ``now`` (ms) and act, in ``ctx``'s transaction."""
    found = [x for x in live_rollouts(ctx, [route]) if x.state == "running"]
    if not found:
        return _nothing(route, now)
    rollout = found[0]
    return apply(ctx, rollout, decide(rollout, read_window(ctx, rollout, now), now))


def check_route(runtime: Any, route: str, *, now: int | None = None) -> CheckResult:
    """Check the route's rollout now (or at ``now``, ms: an injected clock) and act."""
    at = now_ms() if now is None else now
    return runtime.run(lambda ctx: check_in(ctx, route, at), write=True, actor=ACTOR)


@operations.post("/routes/rollouts/check", RouteName, CheckResult, role="deployer")
def check_route_rollout(ctx: Context, req: RouteName) -> CheckResult:
    """Check a route's rollout now: roll back on a breached rule, advance a healthy step."""
    route = check_asset_name(req.route, "route", what="route name")
    return check_in(ctx, route, now_ms())


def claim(ctx: Context, rollout_id: int, now: int, hold_ms: int) -> bool:
    """Claim the rollout for one check; False when another replica checked it less than
    ``hold_ms`` ago (so replicas share the work instead of repeating it)."""
    r = t.route_rollouts
    claimed = ctx.conn.execute(
        update(r)
        .where(
            r.c.id == rollout_id,
            r.c.state == "running",
            (r.c.checked_at.is_(None)) | (r.c.checked_at <= now - hold_ms),
        )
        .values(checked_at=now)
    )
    return claimed.rowcount == 1


class RouteRolloutEvaluator(PeriodicTask):
    """Checks the running route rollouts every ``interval_s`` in a background thread of the
    gateway's process; with several replicas each rollout is checked once per interval."""

    def __init__(
        self, runtime: Any, *, interval_s: float = 10.0, clock: Callable[[], int] = now_ms
    ) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-route-rollouts")
        self.runtime = runtime
        self._clock = clock

    def run_once(self) -> list[CheckResult]:
        """Claim and check each running rollout nobody checked this interval."""
        running = self.runtime.run(
            lambda ctx: [x for x in live_rollouts(ctx) if x.state == "running"], write=False
        )
        # A claim lasts a little less than the interval, so this process's next round finds
        # it free while another replica's round within the interval does not.
        hold = int(self.interval_s * 900)
        results: list[CheckResult] = []
        for rollout in running:
            now = self._clock()
            claimed = self.runtime.run(
                lambda ctx, r=rollout, at=now: claim(ctx, r.id, at, hold), write=True
            )
            if not claimed:
                continue
            try:
                results.append(check_route(self.runtime, rollout.route, now=now))
            except Exception:  # one route's trouble must not stop the others' checks
                log.exception("could not check the rollout of route %s", rollout.route)
        for result in results:
            if result.action in ("advance", "promote", "rollback"):
                log.warning("route %s: %s: %s", result.endpoint, result.action, result.reason)
        return results
