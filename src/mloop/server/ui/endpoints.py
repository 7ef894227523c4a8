"""Endpoint pages: the endpoints with their live deployment and last hour's traffic; one
endpoint with its traffic split, request rate, latency and error-rate charts per variant
over a chosen range, its variants (linked to model versions and their runs), the
deployment history with a Rollback button, its deployments, and its recent requests; one
request of the inference log with its inputs, outputs and label.

Deployment state comes from the serving domain's handlers in one read transaction; traffic
from the inference log (:mod:`mloop.serving.traffic_stats`, DuckDB over its segments). A
server without the ``data`` extra, or a log that cannot be read, shows the deployments and
says why the traffic is missing.

Rolling back needs the deployer role and an identified person: the event records who did
it. With authentication on, the button is shown to deployers and a post by anyone else is
refused (403). Without authentication the UI cannot tell who is looking (the viewer is
``anonymous``), so, as for prompt reviews, the page shows the command to run instead and a
post is refused: no rollback is ever recorded as ``anonymous``. A post names the deployment
it saw live; when another one is live by then, it is refused (409), so a double click or a
stale page never rolls back twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Identity
from mloop.core.errors import (
    ConflictError,
    MloopError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from mloop.core.roles import role_allows
from mloop.prompts.approval import is_identified
from mloop.registry.schemas import ModelVersionRef
from mloop.registry.versions import get_model_version
from mloop.review.items import item_ids_for_requests
from mloop.server.ui import links
from mloop.server.ui.charts import variant_traffic_charts
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import cut, json_safe
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.server.ui.params import checked_name
from mloop.serving.deployments import endpoint_status, load_deployment, rollback
from mloop.serving.endpoints import check_endpoint_name, list_endpoints, load_endpoint_row
from mloop.serving.events import list_deployment_events
from mloop.serving.rollouts import list_rollouts
from mloop.serving.schemas import (
    MAX_REASON,
    Comparison,
    Deployment,
    DeploymentEvent,
    EndpointName,
    ListEndpoints,
    ListEvents,
    Rollback,
)
from mloop.store.context import Context
from mloop.tracking.runs import load_runs

if TYPE_CHECKING:
    from mloop.serving.traffic_stats import WindowStats

log = logging.getLogger("mloop.server.ui")

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Chart ranges: name -> (length, bucket). Buckets keep every chart under ~170 points.
RANGES: dict[str, tuple[int, int]] = {
    "1h": (HOUR, MINUTE),
    "6h": (6 * HOUR, 5 * MINUTE),
    "24h": (DAY, 15 * MINUTE),
    "7d": (7 * DAY, HOUR),
    "30d": (30 * DAY, 6 * HOUR),
}
DEFAULT_RANGE = "1h"
LIST_WINDOW = HOUR  # the list's traffic figures cover this long
ENDPOINTS_PER_PAGE = 100
MAX_EVENTS = 200
MAX_ROLLOUTS = 10
MAX_MONITORS = 50  # monitors of one endpoint listed on its page
RECENT_REQUESTS = 50
MAX_FORM_BYTES = 8192
MAX_CONTENT_CHARS = 100_000  # a request's inputs or outputs shown, at most
REQUEST_WINDOW = HOUR  # a request link's time narrows the search to this either side
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Events that make a deployment live, and so change the roles of the variants.
_SWITCHES = ("deploy", "weights", "promote", "rollback")
DATA_EXTRA_HINT = "install mloop[data] (pyarrow, DuckDB) to read the inference log"


def _checked_endpoint(raw: str) -> str:
    """A name an endpoint could have; anything else names no endpoint (404, not 400)."""
    return checked_name(raw, check_endpoint_name, "endpoint")


def parse_range(raw: str) -> str:
    if raw not in RANGES:
        raise ValidationError(
            f"range must be one of {', '.join(RANGES)}, got {raw[:20]!r}", field="range"
        )
    return raw


def now_ms() -> int:
    return int(time.time() * 1000)


# -- deployment state ---------------------------------------------------------------------


@dataclass(frozen=True)
class VariantView:
    """A variant of a deployment, with its model version as the registry has it now."""

    name: str
    model: str
    version: int
    alias: str | None
    weight: int
    role: str
    exists: bool  # False: the version was deleted since
    run_id: str | None = None
    run_name: str | None = None


@dataclass
class DeploymentView:
    id: int
    strategy: str
    state: str
    created_by: str
    created_at: int
    previous_id: int | None
    variants: list[VariantView] = field(default_factory=list)


@dataclass(frozen=True)
class DetailItem:
    """One line of what an event changed; a model version named in it is linked."""

    key: str
    text: str
    model: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class EventView:
    event: DeploymentEvent
    detail: list[DetailItem]


def _variant_views(ctx: Context, deployment: Deployment) -> list[VariantView]:
    found = []
    for v in deployment.variants:
        try:
            mv = get_model_version(ctx, ModelVersionRef(name=v.model, version=v.version))
        except (NotFoundError, ValidationError):
            found.append(
                VariantView(v.name, v.model, v.version, v.alias, v.weight, v.role, exists=False)
            )
            continue
        found.append(
            VariantView(
                v.name, mv.name, v.version, v.alias, v.weight, v.role, True, mv.run_id or None
            )
        )
    names = {r.info.run_id: r.info.run_name for r in load_runs(ctx, _run_ids(found))}
    return [replace(v, run_name=names[v.run_id]) if v.run_id in names else v for v in found]


def _run_ids(variants: list[VariantView]) -> list[str]:
    return sorted({v.run_id for v in variants if v.run_id})


def _deployment_view(ctx: Context, deployment: Deployment) -> DeploymentView:
    return DeploymentView(
        id=deployment.id,
        strategy=deployment.strategy,
        state=deployment.state,
        created_by=deployment.created_by,
        created_at=deployment.created_at,
        previous_id=deployment.previous_id,
        variants=_variant_views(ctx, deployment),
    )


def _version_of(value: dict[str, Any]) -> tuple[str | None, int | None]:
    model, version = value.get("model"), value.get("version")
    if isinstance(model, str) and isinstance(version, int) and not isinstance(version, bool):
        return model, version
    return None, None


def _detail(event: DeploymentEvent) -> list[DetailItem]:
    """What an event changed: the variants deployed (each with its model version), the
    weights set, the version promoted; anything else as JSON text."""
    detail = dict(event.detail)
    out: list[DetailItem] = []
    variants = detail.pop("variants", None)
    if isinstance(variants, list):
        for v in variants:
            if isinstance(v, dict):
                model, version = _version_of(v)
                text = f"{v.get('weight')}% ({v.get('role')})"
                out.append(DetailItem(cut(str(v.get("name")), 100), text, model, version))
    if event.kind == "promote" and isinstance(detail.get("variant"), str):
        model, version = _version_of(detail)
        name = cut(str(detail.pop("variant")), 100)
        detail.pop("model", None)
        detail.pop("version", None)
        out.append(DetailItem("promoted", name, model, version))
    weights = detail.pop("weights", None)
    if isinstance(weights, dict):
        text = ", ".join(f"{k} {w}%" for k, w in weights.items())
        out.append(DetailItem("weights", cut(text, 1000)))
    for key, value in sorted(detail.items()):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out.append(DetailItem(cut(str(key), 100), cut(text, 1000)))
    return out


def _endpoint_page(ctx: Context, name: str) -> dict[str, Any]:
    status = endpoint_status(ctx, EndpointName(name=name))
    events = list_deployment_events(
        ctx, ListEvents(endpoint=status.endpoint.name, max_results=MAX_EVENTS)
    ).events
    wanted = {status.endpoint.current_deployment}
    for e in events:
        wanted |= {e.from_deployment, e.to_deployment}
    deployments: dict[int, Deployment] = {}
    for deployment_id in sorted(i for i in wanted if i is not None):
        try:
            deployments[deployment_id] = load_deployment(ctx, deployment_id)
        except NotFoundError:
            # An event of an endpoint deleted and created again under the same name.
            continue
    rollouts = list_rollouts(ctx, status.endpoint.name, limit=MAX_ROLLOUTS)
    return {
        "monitors": _monitors(ctx, status.endpoint.name),
        "endpoint": status.endpoint,
        "rollout": rollouts[0] if rollouts else None,
        "earlier_rollouts": rollouts[1:],
        "live": _deployment_view(ctx, status.deployment) if status.deployment else None,
        "events": [EventView(e, _detail(e)) for e in events],
        "deployments": {i: _deployment_view(ctx, d) for i, d in deployments.items()},
        "raw_deployments": deployments,
    }


def _monitors(ctx: Context, endpoint: str) -> list[dict[str, Any]]:
    """The monitors that watch ``endpoint`` (the monitoring domain's), by name, with their
    window's length in words and the start of their newest computed window."""
    from mloop.monitoring.monitors import list_monitors
    from mloop.monitoring.schemas import ListMonitors
    from mloop.server.ui.monitor_views import span_text

    found = list_monitors(ctx, ListMonitors(endpoint=endpoint, max_results=MAX_MONITORS))
    return [
        {
            "monitor": m,
            "window": span_text(m.window_seconds),
            "last_start": None
            if m.last_window_end is None
            else m.last_window_end - m.window_seconds * 1000,
        }
        for m in found.monitors
    ]


def _list_page(ctx: Context, query: str, page_token: str) -> dict[str, Any]:
    try:
        found = list_endpoints(
            ctx,
            ListEndpoints(
                name_contains=query or None,
                max_results=ENDPOINTS_PER_PAGE,
                page_token=page_token or None,
            ),
        )
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return {"endpoints": [], "next_page_token": None, "error": exc.message}
    rows = []
    for e in found.endpoints:
        live = None
        if e.current_deployment is not None:
            live = _deployment_view(ctx, load_deployment(ctx, e.current_deployment))
        rows.append({"endpoint": e, "live": live})
    return {"endpoints": rows, "next_page_token": found.next_page_token, "error": None}


# -- traffic ------------------------------------------------------------------------------


@dataclass
class Traffic:
    """What the inference log says about an endpoint over a range, or why it cannot."""

    error: str | None = None
    totals: dict[str, Any] = field(default_factory=dict)  # variant -> WindowStats
    charts: dict[str, Any] | None = None
    recent: list[Any] = field(default_factory=list)
    comparison: Comparison | None = None  # model versions compared (A/B); None: fewer than two


def _roles_at(
    events: list[DeploymentEvent], deployments: dict[int, Deployment]
) -> list[tuple[int, set[str]]]:
    """(time, shadow variant names) from each switch on, oldest first: which records were
    mirrored copies (shadows) rather than answers, by the deployment live at the time."""
    switches = []
    for e in sorted(events, key=lambda e: (e.timestamp, e.id)):
        if e.kind in _SWITCHES and e.to_deployment in deployments:
            d = deployments[e.to_deployment]
            switches.append((e.timestamp, {v.name for v in d.variants if v.role == "shadow"}))
    return switches


def _shadows_at(switches: list[tuple[int, set[str]]], when: int) -> set[str]:
    shadows: set[str] = switches[0][1] if switches else set()
    for start, names in switches:
        if start > when:
            break
        shadows = names
    return shadows


def _p50(stats: WindowStats) -> float | None:
    return stats.p50_ms


def _p99(stats: WindowStats) -> float | None:
    return stats.p99_ms


def traffic_charts(
    series: list[Any],
    since: int,
    until: int,
    bucket: int,
    switches: list[tuple[int, set[str]]],
    order: list[str],
) -> dict[str, Any]:
    """The four charts' data: observed traffic share of the answering variants, requests
    per minute, latency p50/p99 and error rate per variant, one point per bucket (gaps
    where a variant had no requests). ``order`` puts the live variants first."""
    starts = list(range(since - since % bucket, until, bucket))
    index = {s: i for i, s in enumerate(starts)}
    seen = {b.variant for b in series}
    variants = [v for v in order if v in seen] + sorted(seen - set(order))
    n = len(starts)
    grid: dict[str, list[Any]] = {v: [None] * n for v in variants}
    for b in series:
        if b.start in index:
            grid[b.variant][index[b.start]] = b.stats
    per_minute = MINUTE / bucket
    shares: dict[str, list[float | None]] = {v: [None] * n for v in variants}
    for i, start in enumerate(starts):
        shadows = _shadows_at(switches, start + bucket // 2)
        answered = {v: grid[v][i].requests if grid[v][i] else 0 for v in variants}
        total = sum(count for v, count in answered.items() if v not in shadows)
        for v, count in answered.items():
            if total and v not in shadows:
                shares[v][i] = count / total
    answering = [v for v in variants if any(x for x in shares[v])]

    def values(v: str, fn: Any, empty: Any = None) -> list[Any]:
        return [fn(s) if s else empty for s in grid[v]]

    return json_safe(
        {
            "times": [s // 1000 for s in starts],  # uPlot's time axis counts seconds
            "bucket_s": bucket // 1000,
            "variants": variants,
            "charts": {
                "share": {
                    "type": "stack",
                    "format": "pct",
                    "series": [{"label": v, "variant": v, "values": shares[v]} for v in answering],
                },
                **variant_traffic_charts(
                    variants,
                    values,
                    per_minute,
                    p50=_p50,
                    p99=_p99,
                    error_rate=lambda s: s.error_rate,
                ),
            },
        }
    )


def _traffic(
    ui: UI,
    name: str,
    since: int,
    until: int,
    bucket: int,
    page: dict[str, Any],
) -> Traffic:
    try:
        from mloop.serving import traffic_stats
    except ImportError:
        return Traffic(error=f"traffic figures need the data extra: {DATA_EXTRA_HINT}")
    live = page["live"]
    order = [v.name for v in live.variants] if live else []
    events = [e.event for e in page["events"]]
    try:
        series = traffic_stats.variant_series(ui.runtime, name, since, until, bucket)
        totals = traffic_stats.variant_totals(ui.runtime, name, since, until)
        recent = traffic_stats.recent_requests(
            ui.runtime, name, since=since, until=until, limit=RECENT_REQUESTS
        )
        comparison = _comparison(ui, name, since, until, live) if len(totals) > 1 else None
    except (MloopError, OSError) as exc:  # a segment that cannot be read: say so, keep the page
        log.warning("the inference log of endpoint %s cannot be read: %s", name, exc)
        message = exc.message if isinstance(exc, MloopError) else f"{type(exc).__name__}: {exc}"
        return Traffic(error=f"the inference log cannot be read: {cut(message, 500)}")
    switches = _roles_at(events, page["raw_deployments"])
    charts = traffic_charts(series, since, until, bucket, switches, order) if series else None
    return Traffic(totals=totals, charts=charts, recent=recent, comparison=comparison)


def _comparison(
    ui: UI, name: str, since: int, until: int, live: DeploymentView | None
) -> Comparison | None:
    """The A/B analysis of the range (the serving domain's, against the stable variant's
    version), when two model versions or more had traffic in it."""
    from mloop.serving.ab import compare

    stable = next((v for v in live.variants if v.role == "stable"), None) if live else None
    baseline = (stable.model, stable.version) if stable else None
    found = compare(ui.runtime, name, since=since, until=until, baseline=baseline)
    return found if found.baseline is not None and found.others else None


def _list_traffic(ui: UI, names: list[str], now: int) -> tuple[dict[str, Any], str | None]:
    try:
        from mloop.serving import traffic_stats
    except ImportError:
        return {}, f"traffic figures need the data extra: {DATA_EXTRA_HINT}"
    try:
        return traffic_stats.endpoint_totals(ui.runtime, names, now - LIST_WINDOW, now + 1), None
    except (MloopError, OSError) as exc:
        log.warning("the inference log cannot be read: %s", exc)
        message = exc.message if isinstance(exc, MloopError) else f"{type(exc).__name__}: {exc}"
        return {}, f"the inference log cannot be read: {cut(message, 500)}"


# -- rolling back -------------------------------------------------------------------------


def rollback_refusal(viewer: Identity, endpoint: str) -> str | None:
    """Why ``viewer`` may not roll ``endpoint`` back from the UI, or None."""
    if not role_allows(viewer.role, "deployer"):
        return f"rolling back needs the deployer role; {viewer.name!r} has the {viewer.role} role"
    if not is_identified(viewer.name):
        return (
            "a rollback is recorded with who made it, and this server has no authentication, "
            f"so it cannot tell who you are: run `mloop endpoints rollback {endpoint} "
            '--reason "WHY"` (recorded as your user), or turn authentication on'
        )
    return None


def _rollback(ctx: Context, name: str, expected: int, reason: str) -> None:
    row = load_endpoint_row(ctx, name, lock=True)
    if row.current_deployment != expected:
        raise ConflictError(
            f"endpoint {row.name!r} changed since the page was loaded: deployment "
            f"{row.current_deployment} is live now, not {expected}; reload the page and "
            "roll back from there",
            field="from",
        )
    rollback(ctx, Rollback(endpoint=row.name, reason=reason))


def _expected_deployment(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise ValidationError(
            "from must be the id of the deployment the page showed live", field="from"
        )
    return int(raw)


# -- one request --------------------------------------------------------------------------


def _pretty(text: str | None) -> tuple[str, bool]:
    """Stored JSON indented (as stored when it is not JSON), cut; and whether it was cut."""
    if text is None:
        return "", False
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        shown = text
    return shown[:MAX_CONTENT_CHARS], len(shown) > MAX_CONTENT_CHARS


def _request_views(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    views = []
    for r in records:
        inputs, inputs_cut = _pretty(r.get("inputs"))
        outputs, outputs_cut = _pretty(r.get("outputs"))
        label, _ = _pretty(r.get("label"))
        views.append(
            {
                **{k: r.get(k) for k in ("request_id", "time", "variant", "status", "error")},
                "model_name": r.get("model_name"),
                "model_version": r.get("model_version"),
                "latency_ms": r.get("latency_ms"),
                "confidence": r.get("confidence"),
                "inputs": inputs,
                "inputs_cut": inputs_cut,
                "outputs": outputs,
                "outputs_cut": outputs_cut,
                "label": label if r.get("label") is not None else None,
                "label_time": r.get("label_time"),
            }
        )
    return views


def _parse_time(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise ValidationError(
            f"t must be the request's time in ms since the epoch, got {raw[:20]!r}", field="t"
        )
    return int(raw)


# -- routes -------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/endpoints", response_class=HTMLResponse, name="ui_endpoints")
    def endpoints_page(
        request: Request,
        q: str = Query("", max_length=256),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        data = ui.read(lambda ctx: _list_page(ctx, q, page_token), viewer)
        now = now_ms()
        totals, traffic_error = _list_traffic(
            ui, [row["endpoint"].name for row in data["endpoints"]], now
        )
        return ui.render(
            request,
            "endpoints.html",
            viewer,
            status_code=400 if data["error"] else 200,
            query=q,
            page_token=page_token,
            totals=totals,
            traffic_error=traffic_error,
            **data,
        )

    @r.get("/endpoints/{name}", response_class=HTMLResponse, name="ui_endpoint")
    def endpoint_page(
        request: Request, name: str, range: str = Query(DEFAULT_RANGE, max_length=20)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked_endpoint(name)
        chosen = parse_range(range)
        data = ui.read(lambda ctx: _endpoint_page(ctx, name), viewer)
        length, bucket = RANGES[chosen]
        until = now_ms() + 1
        since = until - length
        traffic = _traffic(ui, data["endpoint"].name, since, until, bucket, data)
        refusal = rollback_refusal(viewer, data["endpoint"].name)
        return ui.render(
            request,
            "endpoint.html",
            viewer,
            range=chosen,
            ranges=list(RANGES),
            bucket_minutes=bucket // MINUTE,
            traffic=traffic,
            can_rollback=refusal is None,
            rollback_refused=refusal,
            max_reason=MAX_REASON,
            **{k: v for k, v in data.items() if k != "raw_deployments"},
        )

    @r.post("/endpoints/{name}/rollback", name="ui_endpoint_rollback")
    async def rollback_submit(request: Request, name: str) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site rollbacks are refused", field="Origin")
        identity = await run_in_threadpool(ui.auth.require, request, "deployer")
        name = _checked_endpoint(name)
        refusal = rollback_refusal(identity, name)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="actor")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise ValidationError("the form is too large", field="reason")
        form = parse_form(body)
        expected = _expected_deployment(form_field(form, "from"))
        reason = form_field(form, "reason").strip()
        if len(reason) > MAX_REASON:
            raise ValidationError(f"reason is longer than {MAX_REASON} characters", field="reason")
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: _rollback(ctx, name, expected, reason),
            write=True,
            actor=identity.name,
        )
        return RedirectResponse(links.endpoint(name) + "#history", status_code=303)

    @r.get(
        "/endpoints/{name}/requests/{request_id}",
        response_class=HTMLResponse,
        name="ui_inference_request",
    )
    def request_page(
        request: Request, name: str, request_id: str, t: str = Query("", max_length=20)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked_endpoint(name)
        if not _REQUEST_ID.match(request_id):
            raise NotFoundError(f"request {request_id[:40]!r} does not exist", field="request_id")
        when = _parse_time(t)
        endpoint = ui.read(lambda ctx: endpoint_status(ctx, EndpointName(name=name)), viewer)
        try:
            from mloop.serving import traffic_stats
        except ImportError:
            raise ValidationError(
                f"requests are read from the inference log: {DATA_EXTRA_HINT}", field="request_id"
            ) from None
        window = (
            {} if when is None else {"since": when - REQUEST_WINDOW, "until": when + REQUEST_WINDOW}
        )
        records = traffic_stats.request_records(
            ui.runtime, endpoint.endpoint.name, request_id, **window
        )
        if not records:
            raise NotFoundError(
                f"request {request_id!r} is not in the inference log of endpoint {name!r}",
                field="request_id",
            )
        reviewed = ui.read(lambda ctx: item_ids_for_requests(ctx, [request_id]), viewer)
        return ui.render(
            request,
            "endpoint_request.html",
            viewer,
            endpoint=endpoint.endpoint,
            request_id=request_id,
            records=_request_views(records),
            review_item=reviewed.get(request_id),
        )

    return r
