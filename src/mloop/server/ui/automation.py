"""Automation pages: ``/automation`` shows jobs by status now and created per hour over the
last day (stacked by the status they reached), the queue, the running jobs with their
lease expiry, the triggers with their next check and last firing, and the trigger event log
(``?trigger=`` narrows it to one trigger); ``/automation/jobs/{id}`` shows one job with its
payload, result, error, every attempt (worker, times, outcome) and links to the trigger that
queued it, the pipeline run or policy run it started and its tracking run. Read-only:
changes go through the CLI, the SDK or the API.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from mloop.automation import tables as t
from mloop.automation.jobs_api import count_by_status, job_detail
from mloop.automation.records import job_message, trigger_message
from mloop.automation.schemas import JOB_STATUSES
from mloop.automation.triggers import fired_counts
from mloop.core.errors import NotFoundError
from mloop.core.naming import check_asset_name
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.optional_links import link_or_none
from mloop.store.context import Context

HOUR = 3_600_000
HOURS = 24
SHOWN = 50  # rows of each table


def _checked_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= 2**31 - 1:
        raise NotFoundError(f"job {raw[:20]!r} does not exist", field="id")
    return int(raw)


def hourly(rows: list[tuple[int, str]], since: int) -> dict[str, Any]:
    """The chart's data: per hour since ``since`` the jobs created, by their status now."""
    starts = [since + i * HOUR for i in range(HOURS)]
    counts: dict[tuple[int, str], int] = {}
    for created, status in rows:
        key = ((created - since) // HOUR, status)
        counts[key] = counts.get(key, 0) + 1
    return {
        "labels": [time.strftime("%Y-%m-%d %H:00", time.gmtime(s / 1000)) for s in starts],
        "series": [
            {"label": s, "values": [counts.get((i, s), 0) for i in range(HOURS)]}
            for s in JOB_STATUSES
        ],
    }


def _jobs(ctx: Context, status: str) -> list[Any]:
    j = t.automation_jobs.c
    order = j.lease_expires_at if status == "running" else j.run_after
    rows = ctx.conn.execute(
        select(t.automation_jobs).where(j.status == status).order_by(order, j.id).limit(SHOWN)
    )
    return [job_message(r) for r in rows]


def _page(ctx: Context, trigger: str | None, now: int) -> dict[str, Any]:
    from mloop.automation.triggers import trigger_events

    since = now - now % HOUR - (HOURS - 1) * HOUR
    j = t.automation_jobs.c
    created = ctx.conn.execute(
        select(j.created_at, j.status).where(j.created_at >= since).limit(100_000)
    ).all()
    triggers = [
        trigger_message(r)
        for r in ctx.conn.execute(
            select(t.automation_triggers).order_by(t.automation_triggers.c.name)
        )
    ]
    e = t.automation_trigger_events.c
    query = select(e.id).order_by(e.id.desc()).limit(SHOWN)
    if trigger is not None:
        query = query.where(e.trigger_name == trigger)
    newest = ctx.conn.execute(query).scalars().all()
    events = (
        list(reversed(trigger_events(ctx, trigger=trigger, after_id=min(newest) - 1, limit=SHOWN)))
        if newest
        else []
    )
    return {
        "counts": count_by_status(ctx),
        "chart": hourly([(c, s) for c, s in created], since),
        "queued": _jobs(ctx, "queued"),
        "running": _jobs(ctx, "running"),
        "recent": [
            job_message(r)
            for r in ctx.conn.execute(
                select(t.automation_jobs)
                .where(j.status.in_(("succeeded", "failed", "cancelled")))
                .order_by(j.updated_at.desc(), j.id.desc())
                .limit(SHOWN)
            )
        ],
        "triggers": triggers,
        "fired": fired_counts(ctx, now - HOURS * HOUR),
        "events": events,
    }


def result_links(kind: str, result: Any, payload: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, text, url) of what a job ran, where the UI has a page for it: a pipeline job's
    pipeline run and tracking run, a policy job's policy run."""
    found: list[tuple[str, str, str | None]] = []
    values = result if isinstance(result, dict) else {}
    if kind == "pipeline":
        pipeline_run = values.get("pipeline_run")
        if isinstance(pipeline_run, int):
            url = link_or_none("pipeline_run", run_id=pipeline_run)
            found.append(("pipeline run", str(pipeline_run), url))
        run_id = values.get("run_id")
        if isinstance(run_id, str):
            found.append(("tracking run", run_id, links.link_to("run", run_id=run_id)))
    elif kind == "policy":
        # A policy job names its run in the result, or (queued for a run) in the payload.
        policy_run = values.get("run", payload.get("run_id"))
        if isinstance(policy_run, int):
            url = link_or_none("policy_run", run_id=policy_run)
            found.append(("policy run", str(policy_run), url))
    return [(label, text, url) for label, text, url in found if url is not None]


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/automation", response_class=HTMLResponse, name="ui_automation")
    def automation_page(request: Request, trigger: str = Query("", max_length=256)) -> HTMLResponse:
        viewer = ui.viewer(request)
        chosen = check_asset_name(trigger, "trigger", what="trigger name") if trigger else None
        now = int(time.time() * 1000)
        data = ui.read(lambda ctx: _page(ctx, chosen, now), viewer)
        return ui.render(
            request,
            "automation.html",
            viewer,
            trigger=chosen,
            statuses=JOB_STATUSES,
            now=now,
            **data,
        )

    @r.get("/automation/jobs/{job_id}", response_class=HTMLResponse, name="ui_automation_job")
    def job_page(request: Request, job_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = _checked_id(job_id)
        detail = ui.read(lambda ctx: job_detail(ctx, number), viewer)
        return ui.render(
            request,
            "automation_job.html",
            viewer,
            detail=detail,
            job=detail.job,
            related=result_links(detail.job.kind, detail.job.result, detail.job.payload),
        )

    return r
