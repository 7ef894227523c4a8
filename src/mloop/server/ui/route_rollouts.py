"""Route rollout pages: one canary of a prompt version or a target model on a gateway route,
with its ramp plan and where it stands (step, weight, time and requests in the step against
the plan's minimums), the split between stable and candidate, request rate, latency and
error-rate charts per side over the rollout's life, its health rules with what the last
check saw and what they read now, and its audited events.

Figures come from the call log, read as the rules read it (:mod:`mloop.llm.rollouts.reads`);
"now" is serving's decision computed on the current window without acting on it, so the page
says what the next check would do.

Ending a rollout and checking it now are the operations the CLI calls
(``end_route_rollout``, ``check_route_rollout``), both for the deployer role. Ending records
who did it, so, as for an endpoint's rollback, it needs a person the server can name: without
authentication the page shows the command to run instead and a post is refused. A check's
actions are recorded as mloop's, so a deployer may run it either way. A post names the state
the page showed; when the rollout has moved since (a check rolled it back, someone ended
it), it is refused (409), so a stale page never ends the wrong thing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Identity
from mloop.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.roles import role_allows
from mloop.core.timeutil import now_ms
from mloop.llm.rollouts.checks import check_route_rollout, decide, read_window
from mloop.llm.rollouts.policy import LIVE, end_route_rollout, list_route_rollouts
from mloop.llm.rollouts.reads import (
    SIDES,
    SideBucket,
    SideStats,
    get_route_rollout,
    rollout_events,
    side_series,
    side_totals,
)
from mloop.llm.rollouts.schemas import (
    EndRouteRollout,
    ListRouteRollouts,
    RouteName,
    RouteRollout,
    RouteRolloutEvent,
)
from mloop.prompts.approval import is_identified
from mloop.server.ui import links
from mloop.server.ui.charts import variant_traffic_charts
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import cut, json_safe
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.serving.schemas import MAX_REASON, CheckResult, HealthRule
from mloop.store.context import Context

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Chart buckets, shortest first: the shortest that keeps a chart under MAX_POINTS points.
BUCKETS = (MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY)
MAX_POINTS = 180
MAX_SPAN = MAX_POINTS * DAY  # a longer rollout's charts show its last this-long
OTHER_ROLLOUTS = 20  # the route's other rollouts listed
MAX_FORM_BYTES = 8192
_MAX_ID_DIGITS = 12


def pick_bucket(span: int) -> int:
    """The shortest bucket (ms) that cuts ``span`` ms into at most :data:`MAX_POINTS`."""
    return next((b for b in BUCKETS if math.ceil(span / b) <= MAX_POINTS), BUCKETS[-1])


def checked_rollout_id(raw: str) -> int:
    """Rollout ids are whole numbers; anything else names no rollout (404)."""
    if not raw.isdigit() or len(raw) > _MAX_ID_DIGITS or int(raw) < 1:
        raise NotFoundError(f"route rollout {raw[:40]!r} does not exist", field="rollout_id")
    return int(raw)


# -- what the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """Stable or candidate: what it serves, as text and as a link."""

    name: str
    text: str
    href: str
    calls_href: str


def sides(rollout: RouteRollout) -> dict[str, Side]:
    """The two sides of ``rollout``, each with its page and its calls in the call log."""
    route = rollout.route
    if rollout.variant_kind == "prompt":
        prompt = (rollout.prompt or "").partition("@")[0]

        def version(name: str, number: str) -> Side:
            return Side(
                name,
                f"{prompt} v{number}",
                links.prompt_version(prompt, number),
                links.gateway_calls(route=route, prompt=prompt, version=int(number)),
            )

        return {
            "stable": version("stable", rollout.stable),
            "candidate": version("candidate", rollout.candidate),
        }
    model = rollout.candidate.partition("/")[2]
    return {
        "stable": Side(
            "stable",
            "the route's targets",
            links.gateway_route(route),
            links.gateway_calls(route=route),
        ),
        "candidate": Side(
            "candidate",
            rollout.candidate,
            links.gateway_calls(route=route, q=model),
            links.gateway_calls(route=route, q=model),
        ),
    }


def planned_weights(events: list[RouteRolloutEvent]) -> list[tuple[int, int | None]]:
    """(time, the candidate's planned percent from then on) from the events, oldest first;
    None once the rollout was retired (the route serves its configuration again)."""
    out: list[tuple[int, int | None]] = []
    for e in events:
        if e.kind == "start":
            weight = e.detail.get("weight")
        elif e.kind in ("advance", "promote"):
            weight = e.detail.get("to_weight")
        elif e.kind == "rollback":
            weight = 0
        else:
            weight = None
        if weight is None or (isinstance(weight, int) and not isinstance(weight, bool)):
            out.append((e.timestamp, weight))
    return out


def _weight_at(planned: list[tuple[int, int | None]], when: int) -> int | None:
    found: int | None = None
    for start, weight in planned:
        if start > when:
            break
        found = weight
    return found


def rollout_charts(
    series: list[SideBucket],
    since: int,
    until: int,
    bucket: int,
    planned: list[tuple[int, int | None]],
) -> dict[str, Any]:
    """The four charts' data, in the shape ``endpoints.js`` draws: the split (each side's
    observed share, and the candidate's planned share as a dashed line), requests per
    minute, latency p50/p99 and error rate per side, one point per bucket (gaps where a side
    had no calls)."""
    starts = list(range(since - since % bucket, until, bucket))
    index = {s: i for i, s in enumerate(starts)}
    n = len(starts)
    grid: dict[str, list[SideStats | None]] = {side: [None] * n for side in SIDES}
    for b in series:
        if b.start in index:
            grid[b.side][index[b.start]] = b.stats
    totals = [sum(c.requests for c in (grid[s][i] for s in SIDES) if c) for i in range(n)]

    def share(side: str) -> list[float | None]:
        return [
            (cell.requests if cell else 0) / totals[i] if totals[i] else None
            for i, cell in enumerate(grid[side])
        ]

    def values(side: str, fn: Any, empty: Any = None) -> list[Any]:
        return [fn(cell) if cell else empty for cell in grid[side]]

    planned_share = []
    for start in starts:
        weight = _weight_at(planned, start + bucket // 2)
        planned_share.append(None if weight is None else weight / 100)
    per_minute = MINUTE / bucket
    return json_safe(
        {
            "times": [s // 1000 for s in starts],  # uPlot's time axis counts seconds
            "bucket_s": bucket // 1000,
            "variants": list(SIDES),
            "charts": {
                "split": {
                    "type": "line",
                    "format": "pct",
                    "series": [
                        *({"label": s, "variant": s, "values": share(s)} for s in SIDES),
                        {
                            "label": "candidate planned",
                            "variant": "candidate",
                            "dash": True,
                            "values": planned_share,
                        },
                    ],
                },
                **variant_traffic_charts(
                    list(SIDES), values, per_minute, p50=_p50, p99=_p99, error_rate=_error_rate
                ),
            },
        }
    )


def _p50(stats: SideStats) -> float | None:
    return stats.p50_ms


def _p99(stats: SideStats) -> float | None:
    return stats.p99_ms


def _error_rate(stats: SideStats) -> float | None:
    return stats.error_rate


def rule_text(rule: HealthRule) -> str:
    """A rule as the page names it: ``error rate`` or ``latency p95``."""
    if rule.kind == "latency":
        return f"latency p{(rule.quantile or 0.99) * 100:g}"
    return rule.kind.replace("_", " ")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def event_detail(event: RouteRolloutEvent) -> list[tuple[str, str]]:
    """What an event changed, as (key, text) lines: the ramp and rules a start set, the
    step an advance took, the rule a rollback breached; anything else as JSON text."""
    d = dict(event.detail)
    out: list[tuple[str, str]] = []
    if event.kind == "start":
        for key in ("variant_kind", "prompt", "stable", "candidate"):
            d.pop(key, None)  # named in the page's header, with links
        ramp = d.pop("ramp", None)
        if isinstance(ramp, dict) and isinstance(ramp.get("steps"), list):
            steps = " → ".join(f"{s}%" for s in ramp["steps"])
            out.append(
                (
                    "ramp",
                    f"{steps}, each step ≥ {ramp.get('min_seconds')} s and "
                    f"{ramp.get('min_requests')} requests",
                )
            )
        rules = d.pop("rules", None)
        if isinstance(rules, list):
            for i, rule in enumerate(rules):
                try:
                    parsed = HealthRule.model_validate(rule)
                except ValueError:
                    continue
                out.append(
                    (
                        f"rule {i}",
                        f"{rule_text(parsed)} above {parsed.threshold:g} over "
                        f"{parsed.window_seconds} s",
                    )
                )
    elif event.kind in ("advance", "promote") and "to_weight" in d:
        weight, to_weight = d.pop("weight", "?"), d.pop("to_weight")
        text = f"{weight}% → {to_weight}%"
        seconds, requests = d.pop("step_seconds", None), d.pop("step_requests", None)
        if isinstance(seconds, int | float) and isinstance(requests, int):
            text += f" after {seconds:.0f} s and {requests} requests"
        d.pop("step", None)
        out.append(("step", text))
    elif event.kind == "rollback" and isinstance(d.get("rule"), dict):
        rule = d.pop("rule")
        observed, threshold = d.pop("observed", None), d.pop("threshold", None)
        window, samples = d.pop("window_seconds", None), d.pop("samples", None)
        name = str(rule.get("kind", "rule")).replace("_", " ")
        out.append(
            (
                "breached",
                f"{name}: {_number(observed)} above {_number(threshold)} over {window} s "
                f"({samples} samples)",
            )
        )
    for key, value in sorted(d.items()):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out.append((cut(str(key), 100), cut(text, 1000)))
    return out


def _page(ctx: Context, rollout_id: int, now: int) -> dict[str, Any]:
    rollout = get_route_rollout(ctx, rollout_id)
    events = rollout_events(ctx, rollout.id)
    live = rollout.state in LIVE
    until = now + 1 if live else rollout.updated_at + 1
    since = max(rollout.started_at, until - MAX_SPAN)
    bucket = pick_bucket(until - since)
    series = side_series(ctx, rollout, since, until, bucket)
    totals = side_totals(ctx, rollout, rollout.started_at, until)
    running = rollout.state == "running"
    step = side_totals(ctx, rollout, rollout.step_started_at, until) if running else {}
    # What the rules read now and what a check would do: serving's decision, not acted on.
    # A ramp of one step (100) has no step to decide on: serving's decide cannot take it.
    last_step = rollout.ramp is not None and rollout.step + 1 >= len(rollout.ramp.steps)
    current: CheckResult | None = (
        decide(rollout, read_window(ctx, rollout, now), now) if running and not last_step else None
    )
    others = list_route_rollouts(
        ctx, ListRouteRollouts(route=rollout.route, max_results=OTHER_ROLLOUTS + 1)
    ).rollouts
    return {
        "rollout": rollout,
        "sides": sides(rollout),
        "events": [(e, event_detail(e)) for e in reversed(events)],  # newest first
        "charts": rollout_charts(series, since, until, bucket, planned_weights(events))
        if series
        else None,
        "since": since,
        "until": until,
        "bucket_minutes": bucket // MINUTE,
        "totals": totals,
        "step_totals": step,
        "current": current,
        "others": [r for r in others if r.id != rollout.id][:OTHER_ROLLOUTS],
    }


# -- ending and checking ------------------------------------------------------------------


NO_NAME = (
    "ending a rollout is recorded with who did it, and this server has no authentication, "
    "so it cannot tell who you are"
)


def end_command(route: str) -> str:
    """The CLI command that ends ``route``'s rollout (recorded as the user who runs it)."""
    return f'mloop gateway rollout end {route} --reason "WHY"'


def end_refusal(viewer: Identity, route: str) -> str | None:
    """Why ``viewer`` may not end a rollout of ``route`` from the UI, or None."""
    if not role_allows(viewer.role, "deployer"):
        return (
            f"ending a rollout needs the deployer role; {viewer.name!r} has the {viewer.role} role"
        )
    if not is_identified(viewer.name):
        return (
            f"{NO_NAME}: run `{end_command(route)}` (recorded as your user), or turn "
            "authentication on"
        )
    return None


def check_refusal(viewer: Identity) -> str | None:
    """Why ``viewer`` may not check a rollout now from the UI, or None."""
    if not role_allows(viewer.role, "deployer"):
        return (
            f"checking a rollout needs the deployer role; {viewer.name!r} has the "
            f"{viewer.role} role"
        )
    return None


def _moved(rollout: RouteRollout, expected: str) -> ConflictError:
    return ConflictError(
        f"rollout {rollout.id} on route {rollout.route!r} is {rollout.state.replace('_', ' ')} "
        f"now, not {expected.replace('_', ' ')}: it changed since the page was loaded; reload "
        "the page and decide from there",
        field="state",
    )


def _end(ctx: Context, rollout_id: int, expected: str, reason: str) -> None:
    rollout = get_route_rollout(ctx, rollout_id, lock=True)
    if rollout.state != expected:
        raise _moved(rollout, expected)
    end_route_rollout(ctx, EndRouteRollout(route=rollout.route, reason=reason))


def _check(ctx: Context, rollout_id: int) -> CheckResult:
    rollout = get_route_rollout(ctx, rollout_id, lock=True)
    if rollout.state != "running":
        raise _moved(rollout, "running")
    return check_route_rollout(ctx, RouteName(route=rollout.route))


def _expected_state(raw: str) -> str:
    if raw not in LIVE:
        raise ValidationError(
            f"state must be the state the page showed ({' or '.join(LIVE)}), got {raw[:20]!r}",
            field="state",
        )
    return raw


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("the form is too large", field="reason")
    return parse_form(body)


# -- routes -------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/gateway/rollouts/{rollout_id}", response_class=HTMLResponse, name="ui_route_rollout")
    def rollout_page(request: Request, rollout_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = checked_rollout_id(rollout_id)
        data = ui.read(lambda ctx: _page(ctx, number, now_ms()), viewer)
        route = data["rollout"].route
        end_refused = end_refusal(viewer, route)
        check_refused = check_refusal(viewer)
        return ui.render(
            request,
            "route_rollout.html",
            viewer,
            can_end=end_refused is None,
            end_refused=end_refused,
            # Without a name to record, the page shows the command (in <code>) instead.
            end_command=end_command(route)
            if end_refused is not None and role_allows(viewer.role, "deployer")
            else None,
            no_name=NO_NAME,
            can_check=check_refused is None,
            check_refused=check_refused,
            max_reason=MAX_REASON,
            **data,
        )

    @r.post("/gateway/rollouts/{rollout_id}/end", name="ui_route_rollout_end")
    async def end_submit(request: Request, rollout_id: str) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site posts are refused", field="Origin")
        identity = await run_in_threadpool(ui.auth.require, request, "deployer")
        number = checked_rollout_id(rollout_id)
        rollout = await run_in_threadpool(
            ui.read, lambda ctx: get_route_rollout(ctx, number), identity
        )
        refusal = end_refusal(identity, rollout.route)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="actor")
        form = await _form(request)
        expected = _expected_state(form_field(form, "state"))
        reason = form_field(form, "reason").strip()
        if len(reason) > MAX_REASON:
            raise ValidationError(f"reason is longer than {MAX_REASON} characters", field="reason")
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: _end(ctx, number, expected, reason),
            write=True,
            actor=identity.name,
        )
        return RedirectResponse(links.route_rollout(number) + "#history", status_code=303)

    @r.post("/gateway/rollouts/{rollout_id}/check", name="ui_route_rollout_check")
    async def check_submit(request: Request, rollout_id: str) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site posts are refused", field="Origin")
        identity = await run_in_threadpool(ui.auth.require, request, "deployer")
        number = checked_rollout_id(rollout_id)
        await run_in_threadpool(
            ui.runtime.run, lambda ctx: _check(ctx, number), write=True, actor=identity.name
        )
        return RedirectResponse(links.route_rollout(number) + "#standing", status_code=303)

    return r
