"""Experiment pages: the list of experiments, and one experiment's runs table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import ValidationError
from mloop.server.ui.core import UI, url_with
from mloop.server.ui.formatting import duration, ms_time, number, quote_key
from mloop.server.ui.params import checked_experiment_id
from mloop.store.context import Context
from mloop.tracking.experiments import experiment_stats, get_experiment, list_experiments
from mloop.tracking.runs import search_runs
from mloop.tracking.schemas import (
    Experiment,
    ExperimentId,
    ListExperiments,
    Run,
    RunPage,
    SearchRuns,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Column:
    """One column of the runs table."""

    id: str
    group: str
    label: str
    sort: str | None
    visible: bool
    descending_first: bool = False


@dataclass(frozen=True)
class SortLink:
    href: str | None
    arrow: str


FIXED_COLUMNS = (
    Column("attr:status", "Run", "Status", "attributes.status", True),
    Column("attr:start_time", "Run", "Started", "attributes.start_time", True, True),
    Column("attr:duration", "Run", "Duration", None, True),
    Column("attr:user_id", "Run", "User", "attributes.user_id", True),
)


def parse_page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"max_results must be a whole number from 1 to {MAX_PAGE_SIZE}, got {raw!r}",
            field="max_results",
        )
    return int(raw)


def split_order(order_by: str) -> tuple[str, bool]:
    """``"metrics.auc DESC"`` -> (``"metrics.auc"``, descending)."""
    text = order_by.strip()
    head, _, last = text.rpartition(" ")
    if head and last.upper() in ("ASC", "DESC"):
        return head.strip(), last.upper() == "DESC"
    return text, False


def columns_for(runs: list[Run]) -> list[Column]:
    """Fixed run columns, then every metric, param and tag key on this page."""
    metrics = sorted({k for r in runs for k in r.data.metrics})
    params = sorted({k for r in runs for k in r.data.params})
    tags = sorted({k for r in runs for k in r.data.tags})
    cols = list(FIXED_COLUMNS)
    cols += [
        Column(f"metric:{k}", "Metrics", k, quote_key("metrics", k), True, True) for k in metrics
    ]
    cols += [Column(f"param:{k}", "Params", k, quote_key("params", k), True) for k in params]
    cols += [Column(f"tag:{k}", "Tags", k, quote_key("tags", k), False) for k in tags]
    return cols


def cell(run: Run, col: Column) -> str:
    kind, _, key = col.id.partition(":")
    if kind == "metric":
        return number(run.data.metrics.get(key))
    if kind == "param":
        return run.data.params.get(key, "")
    if kind == "tag":
        return run.data.tags.get(key, "")
    info = run.info
    if key == "duration":
        return duration(info.start_time, info.end_time)
    if key == "start_time":
        return ms_time(info.start_time)
    return str(getattr(info, key, "") or "")


def sort_link(col: Column, order_by: str, link: Callable[..., str]) -> SortLink:
    """Where a click on a header leads: sort by it, or flip the direction if it already is."""
    if col.sort is None:
        return SortLink(None, "")
    current, descending = split_order(order_by)
    if current == col.sort:
        arrow = " ▼" if descending else " ▲"
        new_desc = not descending
    else:
        arrow = ""
        new_desc = col.descending_first
    target = f"{col.sort} {'DESC' if new_desc else 'ASC'}"
    return SortLink(link(order_by=target, page_token=None), arrow)


def _experiments(ctx: Context) -> list[dict[str, Any]]:
    stats = experiment_stats(ctx)
    out = []
    for exp in list_experiments(ctx, ListExperiments()).experiments:
        found = stats.get(exp.experiment_id)
        out.append(
            {
                "experiment": exp,
                "run_count": found.run_count if found else 0,
                "last_activity": max(
                    exp.last_update_time, (found.last_activity or 0) if found else 0
                ),
            }
        )
    return out


def _search(
    ctx: Context, experiment_id: str, request: SearchRuns
) -> tuple[Experiment, RunPage | None, ValidationError | None]:
    experiment = get_experiment(ctx, ExperimentId(experiment_id=experiment_id))
    try:
        return experiment, search_runs(ctx, request), None
    except ValidationError as exc:
        if exc.field in ("filter", "order_by", "page_token"):
            return experiment, None, exc
        raise


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/", response_class=HTMLResponse, name="ui_experiments")
    def experiments_page(request: Request) -> HTMLResponse:
        viewer = ui.viewer(request)
        rows = ui.read(_experiments, viewer)
        return ui.render(request, "experiments.html", viewer, rows=rows)

    @r.get("/experiments/{experiment_id}", response_class=HTMLResponse, name="ui_experiment")
    def experiment_page(
        request: Request,
        experiment_id: str,
        filter_text: str = Query("", alias="filter", max_length=10_000),
        order_by: str = Query("", max_length=1000),
        page_token: str = Query("", max_length=1000),
        max_results: str = Query("", max_length=10),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        experiment_id = checked_experiment_id(experiment_id)
        size = parse_page_size(max_results)
        search = SearchRuns(
            experiment_ids=[experiment_id],
            filter=filter_text,
            order_by=[order_by] if order_by.strip() else [],
            max_results=size,
            page_token=page_token or None,
        )
        experiment, page, error = ui.read(lambda ctx: _search(ctx, experiment_id, search), viewer)
        runs = page.runs if page else []
        cols = columns_for(runs)

        def link(**changes: Any) -> str:
            return url_with(request, **changes)

        return ui.render(
            request,
            "experiment.html",
            viewer,
            status_code=400 if error else 200,
            experiment=experiment,
            runs=runs,
            columns=cols,
            rows=[(run, [cell(run, c) for c in cols]) for run in runs],
            sort_links={c.id: sort_link(c, order_by, link) for c in cols},
            name_sort=sort_link(
                Column("attr:run_name", "Run", "Name", "attributes.run_name", True),
                order_by,
                link,
            ),
            filter_text=filter_text,
            order_by=order_by,
            page_token=page_token,
            next_page_token=page.next_page_token if page else None,
            error=error.message if error else None,
        )

    return r
