"""Monitor pages: the monitors with what they watch (an endpoint, a dataset or the LLM
gateway; ``?target=`` keeps one kind), reference, last window, drift and open alerts; one
monitor with its drift heat map (columns by windows, every cell a link that selects its
window), and for the selected window (``?window=<start ms>``, the form alerts link to; the
newest by default) the gateway's call statistics, the reference-versus-current histogram of
every column, the drift table, data quality, the contract's checks, the bias audit and the
outputs; performance and other figures over the windows shown, with their intervals as
bands; and the alert timeline.

The heat map shows :data:`HEAT_WINDOWS` windows at a time, in pages counted from the newest,
so selecting a window never moves the map; the pager selects a window of the next page.

Run now computes the last closed window (``run_monitor``) and needs the writer role; Delete
needs the admin role and the monitor's name typed again. Neither records who did it beyond
what the operations record, so, unlike a rollback, they need no named person: a server
without authentication (everyone is ``anonymous`` with the admin role, as on its API) shows
both. Forms from other sites are refused.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.alerts.history import list_alerts, open_alerts
from mloop.alerts.schemas import Alert, ListAlerts
from mloop.auth.authenticator import Identity
from mloop.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.roles import Role, role_allows
from mloop.monitoring.monitors import (
    check_monitor_name,
    delete_monitor,
    get_monitor,
    list_monitors,
)
from mloop.monitoring.runs import list_monitor_windows, run_monitor
from mloop.monitoring.schemas import (
    ListMonitors,
    ListWindows,
    Monitor,
    MonitorName,
    RunMonitor,
    TargetKind,
    WindowReport,
)
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.formatting import cut
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.server.ui.monitor_views import (
    calls_view,
    contract_view,
    drift_columns,
    drift_strength,
    fairness_views,
    gateway_calls_url,
    gateway_scope,
    heat_map,
    histogram_json,
    outputs_json,
    over_time,
    span_text,
)
from mloop.server.ui.params import checked_name
from mloop.serving.endpoints import check_endpoint_name
from mloop.store.context import Context

log = logging.getLogger("mloop.server.ui")

MONITORS_PER_PAGE = 100
HEAT_WINDOWS = 48  # windows the heat map and the charts over time show at once
MAX_ALERTS = 200  # alerts of one monitor on its timeline
MAX_OPEN_ALERTS = 5000  # open alerts counted for the list (beyond: shown as a lower bound)
MAX_HISTOGRAMS = 100  # columns drawn for one window
MAX_FORM_BYTES = 4096
TARGETS: tuple[TargetKind, ...] = ("endpoint", "dataset", "gateway")
# What each kind of target's log is called, for the reference's words.
_LOGS = {
    "endpoint": "the endpoint's log",
    "dataset": "the dataset's rows",
    "gateway": "the gateway's calls",
}


def _checked_monitor(raw: str) -> str:
    """A name a monitor could have; anything else names no monitor (404, not 400)."""
    return checked_name(raw, check_monitor_name, "monitor")


def parse_window(raw: str) -> int | None:
    """``?window=``: a window's start in ms since the epoch (empty: the newest)."""
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise ValidationError(
            f"window must be the start of a computed window in ms since the epoch, got "
            f"{raw[:20]!r}",
            field="window",
        )
    return int(raw)


def parse_target(raw: str) -> TargetKind | None:
    """``?target=``: one kind of monitor (empty: all of them)."""
    if not raw:
        return None
    for kind in TARGETS:
        if raw == kind:
            return kind
    raise ValidationError(
        f"target must be one of {', '.join(TARGETS)}, got {raw[:20]!r}", field="target"
    )


def reference_text(monitor: Monitor) -> str:
    """What the monitor compares its windows with, in words (the dataset's link is apart)."""
    ref = monitor.reference
    if ref.kind == "dataset":
        return f"dataset {ref.dataset}" + ("" if ref.version is None else f" version {ref.version}")
    if ref.kind == "window":
        return f"{_LOGS[monitor.target]} over a fixed window"
    return f"the {ref.windows} window{'s' if ref.windows != 1 else ''} before each window"


# -- the list -----------------------------------------------------------------------------


def _open_counts(ctx: Context) -> tuple[dict[str, int], bool]:
    """Open or acknowledged alerts raised by monitors, per monitor; and whether the count
    stopped at :data:`MAX_OPEN_ALERTS`."""
    found = open_alerts(ctx, source="monitor", limit=MAX_OPEN_ALERTS)
    counts: dict[str, int] = {}
    for alert in found:
        name = alert.subject.get("monitor")
        if name:
            counts[name] = counts.get(name, 0) + 1
    return counts, len(found) >= MAX_OPEN_ALERTS


def _list_page(
    ctx: Context, endpoint: str, target: TargetKind | None, page_token: str
) -> dict[str, Any]:
    try:
        found = list_monitors(
            ctx,
            ListMonitors(
                endpoint=endpoint or None,
                target=target,
                max_results=MONITORS_PER_PAGE,
                page_token=page_token or None,
            ),
        )
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return {"monitors": [], "next_page_token": None, "error": exc.message}
    counts, capped = _open_counts(ctx)
    rows = []
    for monitor in found.monitors:
        latest = list_monitor_windows(ctx, ListWindows(name=monitor.name, max_results=1)).windows
        rows.append(
            {
                "monitor": monitor,
                "scope": gateway_scope(monitor.gateway),
                "reference": reference_text(monitor),
                "window": span_text(monitor.window_seconds),
                "latest": latest[0] if latest else None,
                "open_alerts": counts.get(monitor.name, 0),
            }
        )
    return {
        "monitors": rows,
        "next_page_token": found.next_page_token,
        "error": None,
        "alerts_capped": capped,
    }


# -- one monitor --------------------------------------------------------------------------


def _page_of(starts: list[int], selected: int) -> tuple[list[int], int, int]:
    """The heat map's page holding ``selected``: its window starts, oldest first, and the
    page number (0: the newest) and count of pages."""
    position = len(starts) - 1 - starts.index(selected)  # 0: the newest
    page = position // HEAT_WINDOWS
    end = len(starts) - page * HEAT_WINDOWS
    pages = -(-len(starts) // HEAT_WINDOWS)
    return starts[max(0, end - HEAT_WINDOWS) : end], page, pages


def _selected(starts: list[int], wanted: int | None, name: str) -> int | None:
    if wanted is None:
        return starts[-1] if starts else None
    if wanted not in starts:
        raise NotFoundError(
            f"monitor {name!r} has no computed window starting at {wanted}", field="window"
        )
    return wanted


def _histograms(
    ctx: Context, name: str, report: WindowReport, anchors: dict[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The reference-versus-current histogram of each column of the window's drift report,
    or why none can be drawn."""
    from mloop.monitoring.compute import DRIFTING_OUTPUTS
    from mloop.monitoring.histograms import column_histogram
    from mloop.monitoring.reads import window_reference, window_summary

    columns = drift_columns(report.report, DRIFTING_OUTPUTS)
    if not columns:
        return [], None
    current = window_summary(ctx, name, report.start)
    reference = window_reference(ctx, name, report.start)
    if current is None or reference is None:
        return [], "the window or its reference has no stored summary"
    drawn = []
    for column in columns[:MAX_HISTOGRAMS]:
        column_name = column["column"]
        mine = current.columns.get(column_name)
        theirs = reference.summary.columns.get(column_name)
        if mine is None or theirs is None:
            continue
        try:
            histogram = column_histogram(column_name, theirs, mine)
        except ValidationError as exc:
            log.warning("monitor %s: no histogram of %r: %s", name, column_name, exc.message)
            continue
        drawn.append(histogram_json(histogram, anchors.get(column_name, ""), column))
    return drawn, None


def _alerts_of(ctx: Context, name: str) -> list[Alert]:
    request = ListAlerts(source="monitor", subject=f"monitor={name}", max_results=MAX_ALERTS)
    return list_alerts(ctx, request).alerts


def _monitor_page(ctx: Context, name: str, wanted: int | None) -> dict[str, Any]:
    from mloop.monitoring.compute import DRIFTING_OUTPUTS
    from mloop.monitoring.reads import dataset_reference, window_reports, window_starts

    monitor = get_monitor(ctx, MonitorName(name=name))
    starts = window_starts(ctx, monitor.name)
    selected = _selected(starts, wanted, monitor.name)
    alerts = _alerts_of(ctx, monitor.name)
    data: dict[str, Any] = {
        "monitor": monitor,
        "scope": gateway_scope(monitor.gateway),
        "calls_url": gateway_calls_url(monitor.gateway),
        "reference": reference_text(monitor),
        "dataset": dataset_reference(ctx, monitor.name),
        "window_span": span_text(monitor.window_seconds),
        "alerts": alerts,
        "window_count": len(starts),
        "selected": None,
        "heat": None,
        "pager": None,
        "charts": None,
        "performance_charts": False,
        "histograms": [],
        "histogram_note": None,
        "drift_rows": [],
        "fairness": [],
        "outputs": None,
        "calls": None,
        "contract": None,
    }
    if selected is None:
        return data
    shown, page, pages = _page_of(starts, selected)
    reports = window_reports(ctx, monitor.name, shown[0], shown[-1] + 1)
    heat = heat_map(
        monitor.name, reports, monitor.window_seconds, selected, DRIFTING_OUTPUTS, alerts
    )
    current = next(r for r in reports if r.start == selected)
    anchors = {row.column: row.anchor for row in heat.rows}
    histograms, note = _histograms(ctx, monitor.name, current, anchors)
    rows = "Calls per window" if monitor.target == "gateway" else "Rows per window"
    charts = over_time(reports, monitor.window_seconds, rows=rows) if len(reports) > 1 else None
    newer = starts[len(starts) - page * HEAT_WINDOWS] if page > 0 else None
    older_end = len(starts) - (page + 1) * HEAT_WINDOWS
    older = starts[older_end - 1] if page + 1 < pages and older_end > 0 else None
    data.update(
        selected=current,
        heat=heat,
        pager={"page": page, "pages": pages, "newer": newer, "older": older},
        charts=charts,
        performance_charts=any(
            c["id"].startswith("performance.") for c in (charts or {}).get("charts", [])
        ),
        histograms=histograms,
        histogram_note=note,
        drift_rows=[
            {"column": c, "anchor": anchors.get(c["column"], ""), "strength": drift_strength(c)}
            for c in drift_columns(current.report, DRIFTING_OUTPUTS)
        ],
        fairness=fairness_views(current.report),
        outputs=outputs_json(current.report),
        calls=calls_view(current.report),
        contract=contract_view(current.report),
    )
    return data


# -- the buttons ----------------------------------------------------------------------------


def run_refusal(viewer: Identity) -> str | None:
    """Why ``viewer`` may not compute a window from the UI, or None."""
    if not role_allows(viewer.role, "writer"):
        return (
            f"running a monitor needs the writer role; {viewer.name!r} has the {viewer.role} role"
        )
    return None


def delete_refusal(viewer: Identity) -> str | None:
    """Why ``viewer`` may not delete a monitor from the UI, or None."""
    if not role_allows(viewer.role, "admin"):
        return (
            f"deleting a monitor needs the admin role; {viewer.name!r} has the {viewer.role} role"
        )
    return None


async def _checked_post(ui: UI, request: Request, role: Role) -> Identity:
    if not same_origin(request):
        raise PermissionDeniedError("cross-site posts are refused", field="Origin")
    identity: Identity = await run_in_threadpool(ui.auth.require, request, role)
    return identity


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationError("the form is too large", field="confirm")
    return parse_form(body)


def _delete(ctx: Context, name: str, typed: str) -> None:
    monitor = get_monitor(ctx, MonitorName(name=name))
    if typed.strip() != monitor.name:
        raise ValidationError(
            f"type the monitor's name ({monitor.name}) to delete it with its computed windows",
            field="confirm",
        )
    delete_monitor(ctx, MonitorName(name=monitor.name))


# -- routes -------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/monitors", response_class=HTMLResponse, name="ui_monitors")
    def monitors_page(
        request: Request,
        endpoint: str = Query("", max_length=256),
        target: str = Query("", max_length=20),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        if endpoint:
            endpoint = checked_name(endpoint, check_endpoint_name, "endpoint")
        kind = parse_target(target)
        data = ui.read(lambda ctx: _list_page(ctx, endpoint, kind, page_token), viewer)
        return ui.render(
            request,
            "monitors.html",
            viewer,
            status_code=400 if data["error"] else 200,
            endpoint=endpoint,
            target=kind,
            targets=TARGETS,
            page_token=page_token,
            **data,
        )

    @r.get("/monitors/{name}", response_class=HTMLResponse, name="ui_monitor")
    def monitor_page(
        request: Request, name: str, window: str = Query("", max_length=20)
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked_monitor(name)
        wanted = parse_window(window)
        data = ui.read(lambda ctx: _monitor_page(ctx, name, wanted), viewer)
        run_refused = run_refusal(viewer)
        delete_refused = delete_refusal(viewer)
        return ui.render(
            request,
            "monitor.html",
            viewer,
            can_run=run_refused is None,
            run_refused=run_refused,
            can_delete=delete_refused is None,
            **data,
        )

    @r.post("/monitors/{name}/run", name="ui_monitor_run")
    async def run_submit(request: Request, name: str) -> Response:
        identity = await _checked_post(ui, request, "writer")
        name = _checked_monitor(name)
        refusal = run_refusal(identity)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="actor")
        run = await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: run_monitor(ctx, RunMonitor(name=name)),
            write=True,
            actor=identity.name,
        )
        start = run.windows[-1].start if run.windows else None
        return RedirectResponse(
            links.monitor(run.monitor, window=start) + "#window", status_code=303
        )

    @r.post("/monitors/{name}/delete", name="ui_monitor_delete")
    async def delete_submit(request: Request, name: str) -> Response:
        identity = await _checked_post(ui, request, "admin")
        name = _checked_monitor(name)
        refusal = delete_refusal(identity)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="actor")
        typed = form_field(await _form(request), "confirm")
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: _delete(ctx, name, cut(typed, 300)),
            write=True,
            actor=identity.name,
        )
        return RedirectResponse(links.monitors(), status_code=303)

    return r
