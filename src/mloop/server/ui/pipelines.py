"""Pipeline pages: ``/pipelines`` lists the pipelines that have run, each with its run
counts by status, the durations of its recent runs as a chart and its latest runs
(``?pipeline=`` shows one pipeline with more of them); ``/pipelines/runs/{id}`` shows one
run: the step graph as a layered SVG DAG coloured by status, the steps' attempts on a time
axis, the step table with each step's log tail, and links to its tracking run, the dataset
versions it read, the model versions it registered and what started it. Read-only: runs
start from the SDK, ``mloop pipelines run`` or an automation trigger.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import NotFoundError
from mloop.core.naming import check_asset_name
from mloop.pipelines.queries import get_pipeline_run, list_pipeline_runs, list_pipelines
from mloop.pipelines.schemas import ListPipelineRuns, ListPipelines, PipelineRunId
from mloop.server.ui.core import UI
from mloop.server.ui.pipeline_origin import origin_of
from mloop.server.ui.pipeline_views import MAX_DRAWN, duration_chart, step_graph, timing_chart
from mloop.store.context import Context

SHOWN_PIPELINES = 100
RECENT_RUNS = 10  # runs listed per pipeline on the overview
CHART_RUNS = 50  # runs whose durations the overview charts
ONE_PIPELINE_RUNS = 200  # runs listed when one pipeline is chosen
MAX_RUN_ID = 2**31 - 1


def _checked_id(raw: str) -> int:
    """A run number from the path; anything else is a run that does not exist (404)."""
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_RUN_ID:
        raise NotFoundError(f"pipeline run {raw[:20]!r} does not exist", field="id")
    return int(raw)


def _overview(ctx: Context, chosen: str | None) -> dict[str, Any]:
    summaries = list_pipelines(ctx, ListPipelines(max_results=SHOWN_PIPELINES)).pipelines
    if chosen is not None:
        summaries = [s for s in summaries if s.name == chosen]
        if not summaries:
            raise NotFoundError(f"pipeline {chosen!r} has no runs", field="pipeline")
    listed = ONE_PIPELINE_RUNS if chosen else max(RECENT_RUNS, CHART_RUNS)
    shown = []
    for summary in summaries:
        runs = list_pipeline_runs(
            ctx, ListPipelineRuns(pipeline=summary.name, max_results=listed)
        ).runs
        shown.append(
            {
                "summary": summary,
                "running": summary.runs - summary.succeeded - summary.failed,
                "runs": runs if chosen else runs[:RECENT_RUNS],
                "chart": duration_chart(summary.name, runs[:CHART_RUNS]),
            }
        )
    return {"pipelines": shown}


def _run_page(ctx: Context, number: int, now: int) -> dict[str, Any]:
    detail = get_pipeline_run(ctx, PipelineRunId(id=number))
    nodes = {n.id: n for n in detail.graph.nodes}
    return {
        "run": detail,
        "nodes": nodes,
        "dag": step_graph(detail.graph.nodes, detail.steps),
        "timing": timing_chart(detail, detail.steps, now),
        "origin": origin_of(ctx, detail),
        "too_large": len(detail.graph.nodes) > MAX_DRAWN,
        "steps": detail.steps[:MAX_DRAWN],
        "now": now,
    }


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/pipelines", response_class=HTMLResponse, name="ui_pipelines")
    def pipelines_page(request: Request, pipeline: str = Query("", max_length=256)) -> HTMLResponse:
        viewer = ui.viewer(request)
        chosen = check_asset_name(pipeline, "pipeline", what="pipeline name") if pipeline else None
        data = ui.read(lambda ctx: _overview(ctx, chosen), viewer)
        return ui.render(request, "pipelines.html", viewer, chosen=chosen, **data)

    @r.get("/pipelines/runs/{run_id}", response_class=HTMLResponse, name="ui_pipeline_run")
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = _checked_id(run_id)
        now = int(time.time() * 1000)
        data = ui.read(lambda ctx: _run_page(ctx, number, now), viewer)
        return ui.render(request, "pipeline_run.html", viewer, max_drawn=MAX_DRAWN, **data)

    return r
