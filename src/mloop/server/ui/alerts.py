"""Alert pages: the alerts with their timeline (alerts raised per hour or day, stacked by
severity), filters, and a table linking each alert to its subject (endpoint, monitor, route,
model, dataset) and its window; the rules and channels (secrets masked) and deliveries that
failed; one alert with its history, its links and its deliveries attempt by attempt.

Acknowledging and resolving need the writer role and an identified person, since the
history records who did it: with authentication on, writers get the buttons and a post by
anyone else is refused (403); without authentication the viewer is ``anonymous``, so the
page shows the command to run instead and a post is refused. A resolved alert cannot be
acknowledged or resolved again (409), so a double click changes nothing twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.alerts.channels import list_alert_channels
from mloop.alerts.delivery import list_alert_deliveries
from mloop.alerts.history import (
    acknowledge_alert,
    count_open,
    get_alert,
    list_alerts,
    timeline_counts,
)
from mloop.alerts.rules import list_alert_rules
from mloop.alerts.schemas import (
    MAX_NOTE,
    SEVERITIES,
    Alert,
    AlertId,
    ChangeAlert,
    ListAlerts,
    ListDeliveries,
)
from mloop.auth.authenticator import Identity
from mloop.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.operations import Empty
from mloop.core.roles import role_allows
from mloop.core.validation import from_pydantic
from mloop.prompts.approval import is_identified
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.forms import field as form_field
from mloop.server.ui.forms import parse_form, same_origin
from mloop.store.context import Context

HOUR = 3_600_000
DAY = 24 * HOUR
# Timeline ranges: name -> (length, bucket).
RANGES: dict[str, tuple[int, int]] = {
    "24h": (DAY, HOUR),
    "7d": (7 * DAY, DAY),
    "30d": (30 * DAY, DAY),
    "90d": (90 * DAY, DAY),
}
DEFAULT_RANGE = "7d"
ALERTS_PER_PAGE = 100
FAILED_DELIVERIES_SHOWN = 20
MAX_FORM_BYTES = 8192
# Subject keys whose values name a page of the UI: key -> link kind.
SUBJECT_PAGES = {
    "endpoint": "endpoint",
    "monitor": "monitor",
    "route": "gateway_route",
    "model": "model",
    "dataset": "dataset",
    "prompt": "prompt",
}
FILTERS = ("status", "severity", "source", "rule", "subject")


@dataclass(frozen=True)
class SubjectPart:
    key: str
    value: str
    url: str | None


def subject_parts(subject: dict[str, str]) -> list[SubjectPart]:
    """An alert's subject, each value linked to its page where the UI has one."""
    return [
        SubjectPart(
            key,
            value,
            links.link_to(SUBJECT_PAGES[key], name=value)
            if value and key in SUBJECT_PAGES
            else None,
        )
        for key, value in sorted(subject.items())
    ]


def parse_range(raw: str) -> str:
    if raw not in RANGES:
        raise ValidationError(
            f"range must be one of {', '.join(RANGES)}, got {raw[:20]!r}", field="range"
        )
    return raw


def _filters(values: dict[str, str], page_token: str) -> ListAlerts:
    chosen = {k: v for k, v in values.items() if v}
    try:
        return ListAlerts(**chosen, max_results=ALERTS_PER_PAGE, page_token=page_token or None)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None


def timeline(counts: dict[tuple[int, str], int], since: int, bucket: int, n: int) -> dict[str, Any]:
    """The chart's data: per bucket (oldest first) the alerts raised of each severity."""
    starts = [since + i * bucket for i in range(n)]
    fmt = "%Y-%m-%d %H:00" if bucket < DAY else "%Y-%m-%d"
    return {
        "labels": [time.strftime(fmt, time.gmtime(s / 1000)) for s in starts],
        "times": [s // 1000 for s in starts],
        "series": [
            {"label": severity, "values": [counts.get((i, severity), 0) for i in range(n)]}
            for severity in reversed(SEVERITIES)
        ],
    }


def _list_page(ctx: Context, req: ListAlerts, chosen_range: str, now: int) -> dict[str, Any]:
    length, bucket = RANGES[chosen_range]
    n = length // bucket
    since = now - now % bucket - (n - 1) * bucket
    deliveries = list_alert_deliveries(
        ctx, ListDeliveries(status="failed", max_results=FAILED_DELIVERIES_SHOWN)
    ).deliveries
    data: dict[str, Any] = {
        "alerts": [],
        "next_page_token": None,
        "error": None,
        "open_counts": count_open(ctx),
        "timeline": timeline(timeline_counts(ctx, since, now + 1, bucket), since, bucket, n),
        "rules": list_alert_rules(ctx, Empty()).rules,
        "channels": list_alert_channels(ctx, Empty()).channels,
        "failed_deliveries": deliveries,
    }
    try:
        found = list_alerts(ctx, req)
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return {**data, "error": exc.message}
    return {**data, "alerts": found.alerts, "next_page_token": found.next_page_token}


def _alert_page(ctx: Context, alert_id: int) -> dict[str, Any]:
    detail = get_alert(ctx, AlertId(id=alert_id))
    deliveries = list_alert_deliveries(ctx, ListDeliveries(alert_id=alert_id)).deliveries
    return {"alert": detail.alert, "events": detail.events, "deliveries": deliveries}


def change_refusal(viewer: Identity, alert: Alert | None = None) -> str | None:
    """Why ``viewer`` may not acknowledge or resolve alerts from the UI, or None."""
    if not role_allows(viewer.role, "writer"):
        return (
            f"acknowledging and resolving need the writer role; {viewer.name!r} has the "
            f"{viewer.role} role"
        )
    if not is_identified(viewer.name):
        target = alert.id if alert is not None else "ID"
        return (
            "the history records who acknowledged or resolved an alert, and this server has "
            f"no authentication, so it cannot tell who you are: run `mloop alerts ack {target}` "
            f'or `mloop alerts resolve {target} --note "WHY"` (recorded as your user), or '
            "turn authentication on"
        )
    return None


def _checked_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= 2**31 - 1:
        raise NotFoundError(f"alert {raw[:20]!r} does not exist", field="id")
    return int(raw)


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/alerts", response_class=HTMLResponse, name="ui_alerts")
    def alerts_page(
        request: Request,
        status: str = Query("", max_length=20),
        severity: str = Query("", max_length=20),
        source: str = Query("", max_length=128),
        rule: str = Query("", max_length=256),
        subject: str = Query("", max_length=400),
        range: str = Query(DEFAULT_RANGE, max_length=20),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        chosen = parse_range(range)
        values = {
            "status": status,
            "severity": severity,
            "source": source,
            "rule": rule,
            "subject": subject,
        }
        req = _filters(values, page_token)
        now = int(time.time() * 1000)
        data = ui.read(lambda ctx: _list_page(ctx, req, chosen, now), viewer)
        refusal = change_refusal(viewer)
        return ui.render(
            request,
            "alerts.html",
            viewer,
            status_code=400 if data["error"] else 200,
            filters=values,
            range=chosen,
            ranges=list(RANGES),
            page_token=page_token,
            can_change=refusal is None,
            change_refused=refusal,
            severities=SEVERITIES,
            subject_parts=subject_parts,
            **data,
        )

    @r.get("/alerts/{alert_id}", response_class=HTMLResponse, name="ui_alert")
    def alert_page(request: Request, alert_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = _checked_id(alert_id)
        data = ui.read(lambda ctx: _alert_page(ctx, number), viewer)
        refusal = change_refusal(viewer, data["alert"])
        return ui.render(
            request,
            "alert.html",
            viewer,
            can_change=refusal is None,
            change_refused=refusal,
            max_note=MAX_NOTE,
            subject_parts=subject_parts,
            **data,
        )

    async def change(request: Request, alert_id: str, op: Any) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site changes of alerts are refused", field="Origin")
        identity = await run_in_threadpool(ui.auth.require, request, "writer")
        number = _checked_id(alert_id)
        refusal = change_refusal(identity)
        if refusal is not None:
            raise PermissionDeniedError(refusal, field="actor")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise ValidationError("the form is too large", field="note")
        note = form_field(parse_form(body), "note").strip()
        if len(note) > MAX_NOTE:
            raise ValidationError(f"note is longer than {MAX_NOTE} characters", field="note")
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: op(ctx, ChangeAlert(id=number, note=note)),
            write=True,
            actor=identity.name,
        )
        return RedirectResponse(links.alert(number) + "#history", status_code=303)

    @r.post("/alerts/{alert_id}/acknowledge", name="ui_alert_acknowledge")
    async def acknowledge_submit(request: Request, alert_id: str) -> Response:
        return await change(request, alert_id, acknowledge_alert)

    @r.post("/alerts/{alert_id}/resolve", name="ui_alert_resolve")
    async def resolve_submit(request: Request, alert_id: str) -> Response:
        from mloop.alerts.history import resolve_alert

        return await change(request, alert_id, resolve_alert)

    return r
