"""Experiment pages: the list of experiments, one experiment's runs table and its charts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from mloop.core.errors import MloopError, ValidationError
from mloop.server.ui.charts import MAX_VIEW_RUNS, chart_view
from mloop.server.ui.core import SECURITY_HEADERS, UI
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
from mloop.tracking.search_parser import parse_order_by
from mloop.tracking.summaries import MetricSummary, metric_summaries

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_GOALS = 200
# Settings of the runs table that a new filter keeps (paging and ordering are the form's).
KEPT = ("minmax", "best", "max_results")

# Words that mark a metric where lower is better (a loss, an error, a cost, a duration).
# A key is split at every character that is not a letter or digit; a word matching one of
# these, or ending in "loss" (``valloss``), makes the lowest value the best. Everything
# else: the highest. ``?best=min:KEY`` / ``?best=max:KEY`` overrides the rule per key.
LOWER_IS_BETTER = frozenset(
    {
        "loss",
        "error",
        "err",
        "mse",
        "rmse",
        "mae",
        "mape",
        "smape",
        "rmsle",
        "msle",
        "nll",
        "perplexity",
        "ppl",
        "wer",
        "cer",
        "fpr",
        "fnr",
        "brier",
        "latency",
        "duration",
        "time",
        "seconds",
        "cost",
        "regret",
    }
)
_WORD_SPLIT = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Column:
    """One column of the runs table.

    ``id`` is unique per column; ``data_col`` is what the column chooser shows and hides
    (a metric's min and max columns go with the metric).
    """

    id: str
    group: str
    label: str
    sort: str | None
    visible: bool
    descending_first: bool = False

    @property
    def kind(self) -> str:
        return self.id.partition(":")[0]

    @property
    def key(self) -> str:
        return self.id.partition(":")[2]

    @property
    def data_col(self) -> str:
        return f"metric:{self.key}" if self.kind in ("metric-min", "metric-max") else self.id

    @property
    def chooser(self) -> bool:
        """Whether the column chooser lists this column (min and max follow the metric)."""
        return self.kind not in ("metric-min", "metric-max")


@dataclass(frozen=True)
class Cell:
    """One cell of the runs table: its text, its tooltip, and whether it is its column's best."""

    text: str
    title: str
    best: bool = False


@dataclass(frozen=True)
class SortLink:
    href: str | None
    arrow: str


@dataclass(frozen=True)
class GoalLink:
    """A metric header's best-value marker: which way is best, and the link that flips it."""

    goal: str
    href: str
    title: str


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


def sort_metric(order_by: str) -> str | None:
    """The metric key ``order_by`` sorts by, if it sorts by one (and parses)."""
    if not order_by.strip():
        return None
    try:
        keys = parse_order_by([order_by])
    except ValidationError:
        return None
    return keys[0].key if keys and keys[0].kind == "metric" else None


# -- best values -------------------------------------------------------------------------------


def default_goal(key: str) -> str:
    """``"min"`` when the key names a loss, error, cost or duration, else ``"max"``."""
    words = [w for w in _WORD_SPLIT.split(key.lower()) if w]
    lower = any(w in LOWER_IS_BETTER or w.endswith("loss") for w in words)
    return "min" if lower else "max"


def parse_goals(raw: list[str]) -> dict[str, str]:
    """``?best=min:KEY`` items -> ``{KEY: "min"}``; anything else is a 400 naming ``best``."""
    if len(raw) > MAX_GOALS:
        raise ValidationError(
            f"best is given {len(raw)} times; the limit is {MAX_GOALS}", field="best"
        )
    goals = {}
    for item in raw:
        goal, sep, key = item.partition(":")
        if not sep or goal not in ("min", "max") or not key:
            raise ValidationError(
                f"best must be min:KEY or max:KEY, got {item[:80]!r}", field="best"
            )
        goals[key] = goal
    return goals


def best_values(values: list[float | None], goal: str) -> float | None:
    """The best finite value of a column, or None when it singles nothing out (fewer than
    two distinct finite values)."""
    finite = {v for v in values if v is not None and math.isfinite(v)}
    if len(finite) < 2:
        return None
    return min(finite) if goal == "min" else max(finite)


# -- columns and cells -------------------------------------------------------------------------


def columns_for(runs: list[Run], minmax: bool = False) -> list[Column]:
    """Fixed run columns, then every metric (with its min and max when asked), param and
    tag key on this page."""
    metrics = sorted({k for r in runs for k in r.data.metrics})
    params = sorted({k for r in runs for k in r.data.params})
    tags = sorted({k for r in runs for k in r.data.tags})
    cols = list(FIXED_COLUMNS)
    for k in metrics:
        cols.append(Column(f"metric:{k}", "Metrics", k, quote_key("metrics", k), True, True))
        if minmax:
            cols.append(Column(f"metric-min:{k}", "Metrics", f"{k} (min)", None, True))
            cols.append(Column(f"metric-max:{k}", "Metrics", f"{k} (max)", None, True))
    cols += [Column(f"param:{k}", "Params", k, quote_key("params", k), True) for k in params]
    cols += [Column(f"tag:{k}", "Tags", k, quote_key("tags", k), False) for k in tags]
    return cols


Summaries = dict[str, dict[str, MetricSummary]]


def metric_number(run: Run, col: Column, summaries: Summaries) -> float | None:
    """The number a metric column shows for ``run``: latest, min or max."""
    if col.kind == "metric":
        return run.data.metrics.get(col.key)
    found = summaries.get(run.info.run_id, {}).get(col.key)
    if found is None:
        return None
    return found.min_value if col.kind == "metric-min" else found.max_value


def metric_title(run: Run, key: str, summaries: Summaries) -> str:
    """A metric cell's tooltip: latest, min, max and how many values (as ``runs show``)."""
    latest = run.data.metrics.get(key)
    if latest is None:
        return ""
    found = summaries.get(run.info.run_id, {}).get(key)
    if found is None:
        return f"latest {number(latest)}"
    values = "1 value" if found.count == 1 else f"{found.count} values"
    return (
        f"latest {number(latest)} · min {number(found.min_value) or '-'}"
        f" · max {number(found.max_value) or '-'} · {values}"
    )


def cell_text(run: Run, col: Column, summaries: Summaries) -> str:
    kind, key = col.kind, col.key
    if kind.startswith("metric"):
        return number(metric_number(run, col, summaries))
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


def table_rows(
    runs: list[Run], cols: list[Column], summaries: Summaries, goals: dict[str, str]
) -> list[tuple[Run, list[Cell]]]:
    """The cells of every row, each metric column's best value marked."""
    best: dict[str, float | None] = {}
    for col in cols:
        if col.kind.startswith("metric"):
            goal = goals.get(col.key) or default_goal(col.key)
            best[col.id] = best_values([metric_number(r, col, summaries) for r in runs], goal)
    rows = []
    for run in runs:
        cells = []
        for col in cols:
            text = cell_text(run, col, summaries)
            if col.kind.startswith("metric"):
                value = metric_number(run, col, summaries)
                target = best.get(col.id)
                is_best = target is not None and value is not None and value == target
                title = metric_title(run, col.key, summaries) if col.kind == "metric" else text
                cells.append(Cell(text, title, is_best))
            else:
                cells.append(Cell(text, text))
        rows.append((run, cells))
    return rows


# -- links -----------------------------------------------------------------------------------


def page_url(request: Request, **changes: Any) -> str:
    """The current URL with parameters replaced: a list replaces every value of its key,
    None or ``""`` removes the key; repeated parameters (``best``) are kept."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if isinstance(value, list | tuple):
            items += [(key, str(v)) for v in value]
        elif value is not None and value != "":
            items.append((key, str(value)))
    query = urlencode(items)
    return request.url.path + (f"?{query}" if query else "")


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


def goal_link(key: str, goals: dict[str, str], link: Callable[..., str]) -> GoalLink:
    """The marker of a metric header: the current goal and the link that flips it (a goal
    equal to the default leaves the URL)."""
    goal = goals.get(key) or default_goal(key)
    flipped = "max" if goal == "min" else "min"
    changed = {k: g for k, g in goals.items() if k != key}
    if flipped != default_goal(key):
        changed[key] = flipped
    best = [f"{g}:{k}" for k, g in changed.items()]
    word = "lowest" if goal == "min" else "highest"
    other = "lowest" if flipped == "min" else "highest"
    return GoalLink(
        goal=goal,
        href=link(best=best),
        title=f"The {word} value is marked best; click to mark the {other}",
    )


# -- data --------------------------------------------------------------------------------------


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


def matching(rows: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The experiments whose name contains ``query``, ignoring case; all for a blank query."""
    needle = query.strip().casefold()
    if not needle:
        return rows
    return [row for row in rows if needle in row["experiment"].name.casefold()]


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


def _table(
    ctx: Context, experiment_id: str, request: SearchRuns
) -> tuple[Experiment, RunPage | None, ValidationError | None, Summaries]:
    """The search of the runs table, and the metric summaries of the runs it found."""
    experiment, page, error = _search(ctx, experiment_id, request)
    ids = [r.info.run_id for r in page.runs] if page else []
    return experiment, page, error, metric_summaries(ctx, ids)


def _chart_data(
    ctx: Context, experiment_id: str, request: SearchRuns, metric: str, order_by: str
) -> tuple[Experiment, dict[str, Any] | None, ValidationError | None]:
    experiment, page, error = _search(ctx, experiment_id, request)
    if page is None:
        return experiment, None, error
    data = chart_view(ctx, page.runs, metric or None, sort_metric=sort_metric(order_by))
    data["more"] = page.next_page_token is not None
    data["limit"] = MAX_VIEW_RUNS
    return experiment, data, None


def _view_search(experiment_id: str, filter_text: str, order_by: str) -> SearchRuns:
    return SearchRuns(
        experiment_ids=[experiment_id],
        filter=filter_text,
        order_by=[order_by] if order_by.strip() else [],
        max_results=MAX_VIEW_RUNS,
    )


# -- routes ------------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/", response_class=HTMLResponse, name="ui_experiments")
    def experiments_page(request: Request, q: str = Query("", max_length=256)) -> HTMLResponse:
        viewer = ui.viewer(request)
        rows = ui.read(_experiments, viewer)
        return ui.render(
            request, "experiments.html", viewer, rows=matching(rows, q), total=len(rows), q=q
        )

    @r.get("/experiments/{experiment_id}", response_class=HTMLResponse, name="ui_experiment")
    def experiment_page(
        request: Request,
        experiment_id: str,
        filter_text: str = Query("", alias="filter", max_length=10_000),
        order_by: str = Query("", max_length=1000),
        page_token: str = Query("", max_length=1000),
        max_results: str = Query("", max_length=10),
        minmax: str = Query("", max_length=1, pattern="^[01]?$"),
        best: list[str] = Query(default=[]),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        experiment_id = checked_experiment_id(experiment_id)
        size = parse_page_size(max_results)
        goals = parse_goals(best)
        search = SearchRuns(
            experiment_ids=[experiment_id],
            filter=filter_text,
            order_by=[order_by] if order_by.strip() else [],
            max_results=size,
            page_token=page_token or None,
        )
        experiment, page, error, summaries = ui.read(
            lambda ctx: _table(ctx, experiment_id, search), viewer
        )
        runs = page.runs if page else []
        show_minmax = minmax == "1"
        cols = columns_for(runs, show_minmax)

        def link(**changes: Any) -> str:
            return page_url(request, **changes)

        return ui.render(
            request,
            "experiment.html",
            viewer,
            status_code=400 if error else 200,
            experiment=experiment,
            runs=runs,
            columns=cols,
            rows=table_rows(runs, cols, summaries, goals),
            sort_links={c.id: sort_link(c, order_by, link) for c in cols},
            goal_links={c.id: goal_link(c.key, goals, link) for c in cols if c.kind == "metric"},
            name_sort=sort_link(
                Column("attr:run_name", "Run", "Name", "attributes.run_name", True),
                order_by,
                link,
            ),
            minmax=show_minmax,
            keep=[(k, v) for k, v in request.query_params.multi_items() if k in KEPT],
            minmax_link=link(minmax=None if show_minmax else "1"),
            page_url=link,
            filter_text=filter_text,
            order_by=order_by,
            page_token=page_token,
            next_page_token=page.next_page_token if page else None,
            error=error.message if error else None,
        )

    @r.get(
        "/experiments/{experiment_id}/charts",
        response_class=HTMLResponse,
        name="ui_experiment_charts",
    )
    def experiment_charts_page(
        request: Request,
        experiment_id: str,
        filter_text: str = Query("", alias="filter", max_length=10_000),
        order_by: str = Query("", max_length=1000),
        metric: str = Query("", max_length=250),
        param: str = Query("", max_length=250),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        experiment_id = checked_experiment_id(experiment_id)
        search = _view_search(experiment_id, filter_text, order_by)
        experiment, data, error = ui.read(
            lambda ctx: _chart_data(ctx, experiment_id, search, metric, order_by), viewer
        )
        if data is not None and param in data["params"]:
            data["param"] = param
        return ui.render(
            request,
            "experiment_charts.html",
            viewer,
            status_code=400 if error else 200,
            experiment=experiment,
            data=data,
            keep=[(k, v) for k, v in (("metric", metric), ("param", param)) if v],
            filter_text=filter_text,
            order_by=order_by,
            error=error.message if error else None,
        )

    @r.get("/experiments/{experiment_id}/charts/data", name="ui_experiment_chart_data")
    def experiment_chart_data(
        request: Request,
        experiment_id: str,
        filter_text: str = Query("", alias="filter", max_length=10_000),
        order_by: str = Query("", max_length=1000),
        metric: str = Query("", max_length=250),
    ) -> JSONResponse:
        """The chart view's data as JSON; an error as the API's ``{"error": {...}}`` body."""
        viewer = ui.viewer(request)
        try:
            experiment_id = checked_experiment_id(experiment_id)
            search = _view_search(experiment_id, filter_text, order_by)
            _, data, error = ui.read(
                lambda ctx: _chart_data(ctx, experiment_id, search, metric, order_by), viewer
            )
            if error is not None:
                raise error
        except MloopError as exc:
            status = exc.http_status if 400 <= exc.http_status < 500 else 500
            return JSONResponse(
                {"error": exc.to_dict()},
                status_code=status,
                headers=SECURITY_HEADERS,
            )
        return JSONResponse(data, headers=SECURITY_HEADERS)

    return r
