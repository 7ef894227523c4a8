"""Gateway pages: the overview (KPIs, daily charts, routes with their health, live route
rollouts), one route (its targets, figures and rollouts), the recent calls with filters, and
one call with its attempts, guardrail decisions and content. A rollout's own page is
:mod:`mloop.server.ui.route_rollouts`.

Numbers come from the call log (:mod:`mloop.llm.calls.queries`); routes, targets and health
from the server's live gateway (``app.state.gateway``). A broken gateway configuration is
shown on the page, not raised: the call log stays readable while the file is being fixed.
Provider keys are never shown, only where they come from (an environment variable's name or
a secret's name).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.llm.calls import queries
from mloop.llm.calls.queries import (
    CACHE_STATES,
    DAY_MS,
    DIRECT,
    GROUPS,
    STATUSES,
    CallDetail,
    CallFilter,
    DailyRow,
    RouteStats,
    TargetStats,
)
from mloop.llm.config import GatewayConfig, ProviderConfig, config_path
from mloop.llm.rollouts.policy import list_route_rollouts, live_rollouts
from mloop.llm.rollouts.schemas import ListRouteRollouts, RouteRollout
from mloop.prompts.checks import check_prompt_name
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import cut, json_safe
from mloop.store.context import Context

log = logging.getLogger("mloop.server.ui")

WINDOWS = {"24h": 1, "7d": 7, "30d": 30}  # window name -> days
DEFAULT_WINDOW = "7d"
CALLS_PER_PAGE = 50
RECENT_ON_OVERVIEW = 10
MAX_PAGE = 100_000
MAX_SERIES = 8  # keys drawn on the spend chart; the rest is summed as "(other)"
MAX_CONTENT_CHARS = 200_000  # captured request/response shown per call
OPTIONS_DAYS = 30  # the filters offer the routes, tokens and prompts seen in this many days
MAX_TEXT = 256  # longest text filter value
# Quick time ranges of the calls page: name -> length.
QUICK_RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
QUICK_RANGES["30d"] = timedelta(days=30)
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends and shows
DOCS_HINT = "docs/gateway.md"
ROUTE_ROLLOUTS = 50  # a route page lists its newest this many rollouts
MAX_ROUTE_NAME = 256


# -- formatting -----------------------------------------------------------------------------


def day_label(day: int) -> str:
    """A UTC day (days since the epoch) as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


# -- query parameters ---------------------------------------------------------------------------


def parse_window(raw: str) -> str:
    if raw not in WINDOWS:
        raise ValidationError(
            f"window must be one of {', '.join(WINDOWS)}, got {raw[:20]!r}", field="window"
        )
    return raw


def parse_page(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ValidationError(
            f"page must be a whole number from 1 to {MAX_PAGE}, got {raw[:20]!r}", field="page"
        )
    return int(raw)


def parse_choice(raw: str, allowed: tuple[str, ...], name: str) -> str | None:
    """An optional filter value from a fixed set; empty means any."""
    if not raw:
        return None
    if raw not in allowed:
        raise ValidationError(
            f"{name} must be one of {', '.join(allowed)}, got {raw[:20]!r}", field=name
        )
    return raw


def parse_text(raw: str, name: str) -> str | None:
    if len(raw) > MAX_TEXT:
        raise ValidationError(f"{name} is longer than {MAX_TEXT} characters", field=name)
    return raw or None


def parse_time(raw: str, name: str, *, end: bool = False) -> int | None:
    """A UTC date (``2025-01-31``) or date and time (``2025-01-31T13:45``, what a
    datetime-local input sends) as ms since the epoch; empty means none. A date alone as
    the end of a range takes in that whole day."""
    if not raw:
        return None
    bad = ValidationError(
        f"{name} must be a UTC date or date and time such as 2025-01-31 or "
        f"2025-01-31T13:45, got {raw[:40]!r}",
        field=name,
    )
    if len(raw) > 40:
        raise bad
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise bad from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end and len(raw) == 10:  # a date alone: until the end of that day
        when += timedelta(days=1)
    return int(when.timestamp() * 1000)


def parse_prompt(raw: str) -> tuple[str | None, int | None]:
    """``NAME`` (any version) or ``NAME:VERSION``; empty means any prompt."""
    if not raw:
        return None, None
    name, sep, number = raw.partition(":")
    try:
        check_prompt_name(name, "prompt")
    except ValidationError:
        raise ValidationError(
            f"prompt must be a prompt name or NAME:VERSION, got {raw[:60]!r}", field="prompt"
        ) from None
    if not sep:
        return name, None
    if not number.isdigit() or not 1 <= int(number) <= 2**31 - 1:
        raise ValidationError(
            f"the version in prompt must be a whole number from 1, got {number[:20]!r}",
            field="prompt",
        )
    return name, int(number)


def time_value(ms: int | None) -> str:
    """ms since the epoch as a datetime-local input's value (UTC, to the minute)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(TIME_FORMAT)


# -- the live gateway ------------------------------------------------------------------------------


@dataclass
class TargetView:
    provider: str
    model: str
    weight: float
    kind: str
    health: str  # healthy | failing | cooling | idle
    health_label: str
    health_title: str
    calls: int = 0  # calls of this route it answered in the window (the call log)
    failed: int = 0  # its failed attempts on this route in the window


@dataclass
class RouteView:
    name: str
    configured: bool
    targets: list[TargetView] = field(default_factory=list)
    description: str = ""
    retries: int | None = None
    timeout_seconds: float | None = None
    stats: RouteStats | None = None


@dataclass
class ProviderView:
    name: str
    kind: str
    base_url: str
    key_source: str


@dataclass
class GatewayState:
    """What the live gateway says, or why it could not be asked."""

    error: str | None = None
    config_file: str | None = None
    config: GatewayConfig | None = None
    health: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # The latest budget alerts of this process (budgets with action: alert over their limit).
    alerts: list[dict[str, Any]] = field(default_factory=list)


def gateway_state(request: Request, ui: UI) -> GatewayState:
    """The server's gateway configuration and router health; errors become a message."""
    path = config_path(ui.runtime.settings.home)
    state = GatewayState(config_file=str(path) if path else None)
    holder = getattr(request.app.state, "gateway", None)
    if holder is None:
        state.error = "this server runs no gateway"
        return state
    try:
        gateway = holder.get()
    except MloopError as exc:
        state.error = exc.message
        return state
    except Exception as exc:  # a provider that cannot be built: show it, keep the page
        log.warning("the gateway could not start: %s", exc)
        state.error = f"the gateway could not start: {type(exc).__name__}: {cut(str(exc), 500)}"
        return state
    state.config = gateway.config
    state.health = gateway.router.health()
    state.alerts = gateway.alerts[-5:]
    return state


def _public_url(url: str | None) -> str:
    """A base URL without credentials, query or fragment (they may carry secrets)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(unparsable URL)"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _key_source(p: ProviderConfig) -> str:
    if p.api_key_env:
        return f"environment variable {p.api_key_env}"
    if p.api_key_secret:
        return f"secret {p.api_key_secret}"
    return "none"


def _health(
    live: dict[str, Any] | None, logged: TargetStats | None, window: str
) -> tuple[str, str, str]:
    """(state, label, title) of a target of a route.

    The router's record (this server process, since it started) is the newest knowledge
    and decides when it saw the target at all. Otherwise the call log decides: calls
    served by another process (another replica, ``mloop demo``, a server since restarted)
    reach the log, not this router, so a target that answered 9 calls today is healthy,
    not "no traffic"."""
    notes = []
    if logged is not None:
        notes.append(
            f"last {window} in the call log: {logged.answered} calls answered, "
            f"{logged.failed} failed attempts"
            + (f" (latest: {cut(logged.last_error, 300)})" if logged.failed else "")
        )
    ok = int((live or {}).get("successes", 0))
    failed = int((live or {}).get("failures", 0))
    notes.append(f"{ok} succeeded, {failed} failed since the server started")
    if live and live.get("last_error"):
        notes[-1] += f"; last error: {cut(str(live['last_error']), 300)}"
    title = "; ".join(notes)
    if live:
        cooling = float(live.get("cooling_down_seconds") or 0)
        if cooling > 0:
            # Rounded up: a target that just started a 30 s cool-down reads "30s", not "29s".
            return "cooling", f"cooling down {math.ceil(cooling)}s", title
        consecutive = int(live.get("consecutive_failures") or 0)
        if consecutive > 0:
            return "failing", f"failing ({consecutive} in a row)", title
        if ok or failed:
            return "healthy", "healthy", title
    if logged is not None and (logged.answered or logged.failed):
        if logged.last_failed:
            return "failing", "last attempt failed", title
        return "healthy", "healthy", title
    return "idle", "no traffic", title


def route_views(
    state: GatewayState,
    stats: dict[str, RouteStats],
    targets: dict[tuple[str, str, str], TargetStats] | None = None,
    window: str = DEFAULT_WINDOW,
) -> list[RouteView]:
    """Configured routes, then routes the call log has but the configuration no longer."""
    out: list[RouteView] = []
    config = state.config
    logged = targets or {}
    if config is not None:
        for name, route in sorted(config.routes.items()):
            views = []
            for t in route.targets:
                provider = config.providers.get(t.provider)
                found = logged.get((name, t.provider, t.model))
                health, label, title = _health(
                    state.health.get((t.provider, t.model)), found, window
                )
                views.append(
                    TargetView(
                        provider=t.provider,
                        model=t.model,
                        weight=t.weight,
                        kind=provider.kind if provider else "",
                        health=health,
                        health_label=label,
                        health_title=title,
                        calls=found.answered if found else 0,
                        failed=found.failed if found else 0,
                    )
                )
            out.append(
                RouteView(
                    name=name,
                    configured=True,
                    targets=views,
                    description=route.description,
                    retries=route.retries,
                    timeout_seconds=route.timeout_seconds,
                    stats=stats.get(name),
                )
            )
    known = {r.name for r in out}
    for name in sorted(stats, key=lambda n: (n == DIRECT, n)):
        if name not in known:
            out.append(RouteView(name=name, configured=False, stats=stats[name]))
    return out


def provider_views(config: GatewayConfig | None) -> list[ProviderView]:
    if config is None:
        return []
    return [
        ProviderView(
            name=name, kind=p.kind, base_url=_public_url(p.base_url), key_source=_key_source(p)
        )
        for name, p in sorted(config.providers.items())
    ]


# -- charts ----------------------------------------------------------------------------------------


def _days(since: int, until: int) -> list[int]:
    return list(range(since // DAY_MS, (until - 1) // DAY_MS + 1))


def stack_chart(rows: list[DailyRow], days: list[int], value: str, fmt: str) -> dict[str, Any]:
    """Per-key daily values of ``value`` for a stacked bar chart: the :data:`MAX_SERIES` keys
    with the largest totals, then the rest as ``(other)``."""
    totals: dict[str, float] = {}
    for r in rows:
        key = r.key or ""
        totals[key] = totals.get(key, 0.0) + float(getattr(r, value))
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown = ranked[:MAX_SERIES] if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[float]] = {k: [0.0] * len(days) for k in shown}
    if len(ranked) > len(shown):
        series["(other)"] = [0.0] * len(days)
    for r in rows:
        key = r.key or ""
        name = key if key in shown else "(other)"
        if r.day in index:
            series[name][index[r.day]] += float(getattr(r, value))
    return {
        "type": "stack",
        "format": fmt,
        "days": [day_label(d) for d in days],
        "series": [{"label": k, "values": v} for k, v in series.items()],
    }


def overview_charts(
    by_group: dict[str, list[DailyRow]],
    per_day: list[DailyRow],
    days: list[int],
    latency: list[tuple[int, float | None, float | None]] | None = None,
) -> dict[str, Any]:
    index = {r.day: r for r in per_day}
    labels = [day_label(d) for d in days]
    percentiles = {day: (p50, p95) for day, p50, p95 in latency or []}

    def column(fn: Any) -> list[Any]:
        return [fn(index[d]) if d in index else 0 for d in days]

    return json_safe(
        {
            "spend": {g: stack_chart(by_group[g], days, "cost_usd", "usd") for g in GROUPS},
            "requests": {
                "type": "stack",
                "format": "count",
                "days": labels,
                "series": [
                    {"label": "ok", "values": column(lambda r: r.requests - r.errors - r.blocked)},
                    {"label": "blocked", "values": column(lambda r: r.blocked)},
                    {"label": "errors", "values": column(lambda r: r.errors)},
                ],
            },
            "latency": {
                "type": "line",
                "format": "ms",
                "days": labels,
                "series": [
                    {"label": "p50", "values": [percentiles.get(d, (None, None))[0] for d in days]},
                    {"label": "p95", "values": [percentiles.get(d, (None, None))[1] for d in days]},
                ],
            },
            "cache": {
                "type": "line",
                "format": "pct",
                "days": labels,
                "series": [
                    {
                        "label": "hit rate",
                        "values": [index[d].hit_rate if d in index else None for d in days],
                    }
                ],
            },
        }
    )


# -- pages ---------------------------------------------------------------------------------------


def _spend_spike(ctx: Context) -> dict[str, Any] | None:
    """The open alert of the spend-spike rule (an ordinary alert rule the server evaluates
    every few minutes: mloop.alerts.spend), with a sentence for the banner; None if none."""
    from mloop.alerts.history import open_alerts
    from mloop.alerts.spend import SOURCE, SPIKE_METRIC

    found = open_alerts(ctx, source=SOURCE, metric=SPIKE_METRIC, limit=1)
    if not found:
        return None
    ratio = found[0].value
    text = (
        f"today's spend is {ratio:.1f}x the trailing 7-day daily average"
        if ratio is not None and math.isfinite(ratio)
        else "today's spend follows a week without spend"
    )
    return {"alert": found[0], "text": text}


def _overview(ctx: Context, since: int, until: int) -> dict[str, Any]:
    days = _days(since, until)
    recent, _ = queries.list_calls(ctx, CallFilter(), limit=RECENT_ON_OVERVIEW)
    return {
        "spike": _spend_spike(ctx),
        "totals": queries.totals(ctx, since, until),
        "stats": queries.route_stats(ctx, since, until),
        "targets": queries.target_stats(ctx, since, until),
        "charts": overview_charts(
            {g: queries.daily(ctx, since, until, g) for g in GROUPS},
            queries.daily(ctx, since, until),
            days,
            queries.daily_latency(ctx, since, until),
        ),
        "recent": recent,
        "rollouts": live_rollouts(ctx),
    }


def checked_route(raw: str) -> str:
    """A name a route could have (the configuration allows any text); anything else, and
    the calls that named a provider model directly, name no route page (404)."""
    if not raw or len(raw) > MAX_ROUTE_NAME or raw == DIRECT or not raw.isprintable():
        raise NotFoundError(f"route {raw[:80]!r} does not exist", field="route")
    return raw


def _route_rollouts(ctx: Context, name: str) -> list[RouteRollout]:
    """The route's rollouts, newest first; a name no rollout may have has none."""
    try:
        check_asset_name(name, "route")
    except ValidationError:
        return []
    return list_route_rollouts(
        ctx, ListRouteRollouts(route=name, max_results=ROUTE_ROLLOUTS)
    ).rollouts


def _route(ctx: Context, name: str, since: int, until: int) -> dict[str, Any]:
    totals = queries.totals(ctx, since, until, CallFilter(route=name))
    targets = queries.target_stats(ctx, since, until)
    logged, _ = queries.list_calls(ctx, CallFilter(route=name), limit=1)
    return {
        "stats": {name: RouteStats(route=name, **asdict(totals))},
        "targets": {k: v for k, v in targets.items() if k[0] == name},
        "rollouts": _route_rollouts(ctx, name),
        "logged": bool(logged),
    }


def _calls(
    ctx: Context, flt: CallFilter, page: int, config: GatewayConfig | None, now: int
) -> dict[str, Any]:
    calls, more = queries.list_calls(
        ctx, flt, limit=CALLS_PER_PAGE, offset=(page - 1) * CALLS_PER_PAGE
    )
    if page > 1 and not calls:
        raise NotFoundError(f"there is no page {page} of calls with these filters", field="page")
    since = now - OPTIONS_DAYS * DAY_MS
    routes = set(queries.distinct_values(ctx, "route", since=since))
    routes |= set(config.routes if config else ())
    tokens = set(queries.distinct_values(ctx, "token", since=since))
    prompts: set[str] = set()
    for name, version in queries.distinct_prompts(ctx, since=since):
        prompts.add(name)
        if version is not None:
            prompts.add(f"{name}:{version}")
    # A filter value from a link stays selectable even when it is older than the options.
    if flt.route:
        routes.add(flt.route)
    if flt.token:
        tokens.add(flt.token)
    return {
        "calls": calls,
        "more": more,
        "route_options": sorted(routes),
        "token_options": sorted(tokens),
        "prompt_options": sorted(prompts),
    }


def quick_ranges(now: int) -> list[tuple[str, str]]:
    """(name, ``from`` value) of the calls page's quick time ranges, ending now."""
    return [
        (name, time_value(now - int(length.total_seconds() * 1000)))
        for name, length in QUICK_RANGES.items()
    ]


def pretty(value: Any) -> tuple[str, bool]:
    """Captured content as indented JSON (a string as it is), cut to
    :data:`MAX_CONTENT_CHARS`; and whether it was cut."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )
    return text[:MAX_CONTENT_CHARS], len(text) > MAX_CONTENT_CHARS


def _detail_views(call: CallDetail) -> dict[str, Any]:
    slowest = max((_number(a.get("latency_ms")) for a in call.attempts), default=0.0)
    attempts = []
    for i, a in enumerate(call.attempts, start=1):
        latency = _number(a.get("latency_ms"))
        attempts.append(
            {
                "n": i,
                "provider": str(a.get("provider", "")),
                "model": str(a.get("model", "")),
                "outcome": str(a.get("outcome", "")),
                "status": a.get("status"),
                "retry_after": a.get("retry_after"),
                "message": cut(str(a.get("message") or ""), 2000),
                "latency_ms": latency,
                "bar": round(100 * latency / slowest, 1) if slowest > 0 else 0,
            }
        )
    decisions = [
        {
            "stage": str(g.get("stage", "")),
            "check": str(g.get("check", "")),
            "name": str(g.get("name", "")),
            "action": str(g.get("action", "")),
            "triggered": bool(g.get("triggered")),
            "error": bool(g.get("error")),
            "reason": cut(str(g.get("reason") or ""), 2000),
            "details": cut(json.dumps(g.get("details") or {}, default=str), 2000),
            "duration_ms": _number(g.get("duration_ms")),
        }
        for g in call.guardrails
    ]
    request_text, request_cut = pretty(call.request) if call.request is not None else ("", False)
    response_text, response_cut = (
        pretty(call.response) if call.response is not None else ("", False)
    )
    return {
        "attempts": attempts,
        "decisions": decisions,
        "request_text": request_text,
        "request_cut": request_cut,
        "response_text": response_text,
        "response_cut": response_cut,
        "metadata": [
            (cut(str(k), 200), cut(json.dumps(v, default=str), 2000))
            for k, v in list(call.metadata.items())[:100]
        ],
    }


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/gateway", response_class=HTMLResponse, name="ui_gateway")
    def overview_page(request: Request, window: str = DEFAULT_WINDOW) -> HTMLResponse:
        viewer = ui.viewer(request)
        window = parse_window(window)
        until = int(time.time() * 1000) + 1
        since = until - WINDOWS[window] * DAY_MS
        state = gateway_state(request, ui)
        data = ui.read(lambda ctx: _overview(ctx, since, until), viewer)
        return ui.render(
            request,
            "gateway.html",
            viewer,
            window=window,
            windows=list(WINDOWS),
            state=state,
            routes=route_views(state, data["stats"], data["targets"], window),
            providers=provider_views(state.config),
            docs_hint=DOCS_HINT,
            **data,
        )

    @r.get("/gateway/routes/{name:path}", response_class=HTMLResponse, name="ui_gateway_route")
    def route_page(request: Request, name: str, window: str = DEFAULT_WINDOW) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = checked_route(name)
        window = parse_window(window)
        until = int(time.time() * 1000) + 1
        since = until - WINDOWS[window] * DAY_MS
        state = gateway_state(request, ui)
        data = ui.read(lambda ctx: _route(ctx, name, since, until), viewer)
        found = [
            v for v in route_views(state, data["stats"], data["targets"], window) if v.name == name
        ]
        configured = bool(state.config and name in state.config.routes)
        if not (configured or data["logged"] or data["rollouts"]):
            raise NotFoundError(
                f"route {name!r} is neither configured nor in the call log", field="route"
            )
        view = found[0] if found else RouteView(name=name, configured=False)
        return ui.render(
            request,
            "gateway_route.html",
            viewer,
            window=window,
            windows=list(WINDOWS),
            state=state,
            route=view,
            rollouts=data["rollouts"],
            docs_hint=DOCS_HINT,
        )

    @r.get("/gateway/calls", response_class=HTMLResponse, name="ui_gateway_calls")
    def calls_page(
        request: Request,
        route: str = "",
        status: str = "",
        cache: str = "",
        token: str = "",
        prompt: str = "",
        q: str = "",
        since: str = Query("", alias="from"),
        until: str = Query("", alias="to"),
        page: str = "1",
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        prompt_name, prompt_version = parse_prompt(prompt)
        start = parse_time(since, "from")
        end = parse_time(until, "to", end=True)
        if start is not None and end is not None and start >= end:
            raise ValidationError("from must be before to", field="from")
        flt = CallFilter(
            route=parse_text(route, "route"),
            status=parse_choice(status, STATUSES, "status"),
            cache=parse_choice(cache, CACHE_STATES, "cache"),
            token=parse_text(token, "token"),
            prompt=prompt_name,
            prompt_version=prompt_version,
            text=parse_text(q, "q"),
            since=start,
            until=end,
        )
        number = parse_page(page)
        state = gateway_state(request, ui)
        now = int(time.time() * 1000)
        data = ui.read(lambda ctx: _calls(ctx, flt, number, state.config, now), viewer)
        return ui.render(
            request,
            "gateway_calls.html",
            viewer,
            flt=flt,
            prompt=prompt,
            q=q,
            since=time_value(start),
            until=time_value(end),
            quick=quick_ranges(now),
            page=number,
            statuses=STATUSES,
            cache_states=CACHE_STATES,
            **data,
        )

    @r.get("/gateway/calls/{call_id}", response_class=HTMLResponse, name="ui_gateway_call")
    def call_page(request: Request, call_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        # Call ids are at most 32 characters: a longer one names no call.
        found = (
            None
            if len(call_id) > 32
            else ui.read(lambda ctx: queries.get_call(ctx, call_id), viewer)
        )
        if found is None:
            raise NotFoundError(f"call {call_id[:40]!r} does not exist", field="call_id")
        return ui.render(
            request,
            "gateway_call.html",
            viewer,
            call=found,
            **_detail_views(found),
        )

    return r
