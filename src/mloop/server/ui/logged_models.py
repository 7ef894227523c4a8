"""Pages of MLflow 3 logged models: an experiment's logged models (filtered by name and
status, a chosen metric's newest value per model, drawn as bars) and one logged model (its
params, tags, linked metrics and their curves, the runs that logged, read or produced it, the
versions registered from it and its files).

Logged models are the MLflow layer's (``mloop.compat.mlflow``): this module reads its tables
and never writes them.
"""

from __future__ import annotations

import math
import posixpath
from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import func, select

from mloop.compat.mlflow import tables as t
from mloop.compat.mlflow.logged_models import load_logged_model
from mloop.core.errors import NotFoundError, ValidationError
from mloop.server.ui.charts import thin
from mloop.server.ui.core import UI
from mloop.server.ui.downloads import attachment
from mloop.server.ui.formatting import cut, finite
from mloop.server.ui.logged_model_views import (
    MODEL_ID,
    STATUS_BADGES,
    VERSIONS_TAG,
    in_run_layout,
    registered_versions,
)
from mloop.server.ui.params import checked_experiment_id
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context
from mloop.tracking.experiments import get_experiment
from mloop.tracking.runs import load_runs
from mloop.tracking.schemas import ExperimentId, MetricPoint

MAX_MODELS = 500  # models the list shows: the newest ones matching the filters
MAX_BARS = 60  # bars the list's chart draws (the first ones in the table's order)
MAX_METRIC_ROWS = 100_000  # linked metric values one model page reads
MAX_FILES = 500
MAX_RUN_LINKS = 500
SYSTEM_TAG_PREFIX = "mlflow."
# ?status= values and the MLflow status each one picks.
STATUS_FILTERS = {
    "ready": "LOGGED_MODEL_READY",
    "pending": "LOGGED_MODEL_PENDING",
    "failed": "LOGGED_MODEL_UPLOAD_FAILED",
}
# ?sort= values; "-" sorts descending. Models without the metric sort last either way.
SORTS = ("-created", "created", "name", "-name", "metric", "-metric")
DEFAULT_SORT = "-created"

# The bar chart's geometry, in SVG user units (the SVG scales to its box).
BAR_LABEL_WIDTH = 220
BAR_AREA_WIDTH = 460
BAR_VALUE_WIDTH = 90
BAR_ROW = 22
BAR_HEIGHT = 14
BAR_LABEL_CHARS = 30


def checked_model_id(raw: str) -> str:
    """Logged model ids are ``m-`` and 32 hex digits; anything else names no model (404)."""
    if not MODEL_ID.match(raw):
        raise NotFoundError(f"logged model {raw[:80]!r} does not exist", field="model_id")
    return raw


def _status_filter(raw: str) -> str | None:
    if not raw:
        return None
    if raw not in STATUS_FILTERS:
        raise ValidationError(
            f"status must be one of {', '.join(STATUS_FILTERS)}, got {raw[:40]!r}",
            field="status",
        )
    return STATUS_FILTERS[raw]


def _sort(raw: str) -> str:
    if not raw:
        return DEFAULT_SORT
    if raw not in SORTS:
        raise ValidationError(
            f"sort must be one of {', '.join(SORTS)}, got {raw[:40]!r}", field="sort"
        )
    return raw


def sort_targets(sort: str) -> dict[str, str]:
    """Where a click on each sortable header leads: its own column flips direction; another
    column starts ascending (name) or descending (created, the metric)."""
    targets = {}
    for field, first in (("name", ""), ("created", "-"), ("metric", "-")):
        if sort.lstrip("-") == field:
            targets[field] = field if sort.startswith("-") else f"-{field}"
        else:
            targets[field] = f"{first}{field}"
    return targets


def _badge(status: str) -> tuple[str, str]:
    return STATUS_BADGES.get(status, (status.lower(), "muted-badge"))


def _latest_metrics(ctx: Context, ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """model id -> key -> the newest linked value (by timestamp, then step): value, step."""
    if not ids:
        return {}
    m = t.logged_model_metrics.c
    ranked = (
        select(
            m.model_id,
            m.key,
            m.value,
            m.is_nan,
            m.step,
            func.row_number()
            .over(
                partition_by=[m.model_id, m.key],
                order_by=[m.timestamp.desc(), m.step.desc(), m.id.desc()],
            )
            .label("rank"),
        )
        .where(m.model_id.in_(ids))
        .subquery()
    )
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in ctx.conn.execute(select(ranked).where(ranked.c.rank == 1)):
        value = None if r.is_nan or r.value is None else float(r.value)
        found[r.model_id][r.key] = {"value": value, "step": r.step}
    return found


def _tag_values(ctx: Context, ids: list[str], key: str) -> dict[str, str]:
    if not ids:
        return {}
    c = t.logged_model_tags.c
    rows = ctx.conn.execute(select(c.model_id, c.value).where(c.model_id.in_(ids), c.key == key))
    return {r.model_id: r.value for r in rows}


def _run_names(ctx: Context, run_ids: list[str]) -> dict[str, str]:
    ids = sorted({r for r in run_ids if r and len(r) <= 32 and r.isalnum()})
    return {run.info.run_id: run.info.run_name for run in load_runs(ctx, ids)}


def _sorted_models(models: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """The list in ``sort`` order; rows come newest first, which breaks ties."""
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    if field == "created":
        return sorted(models, key=lambda m: (m["created"], m["model_id"]), reverse=descending)
    if field == "name":
        return sorted(models, key=lambda m: m["name"].casefold(), reverse=descending)
    with_value = [m for m in models if m["value"] is not None]
    without = [m for m in models if m["value"] is None]
    return sorted(with_value, key=lambda m: m["value"], reverse=descending) + without


def bar_chart(models: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """Horizontal bars of ``metric`` per model (in the given order), with a zero line when
    the values straddle it; None when no model has a finite value."""
    shown = [m for m in models if m["value"] is not None and math.isfinite(m["value"])]
    shown = shown[:MAX_BARS]
    if not shown:
        return None
    values = [m["value"] for m in shown]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0

    def x(v: float) -> float:
        return BAR_LABEL_WIDTH + (v - low) / span * BAR_AREA_WIDTH

    zero = x(0.0)
    bars = []
    for i, m in enumerate(shown):
        end = x(m["value"])
        bars.append(
            {
                "model_id": m["model_id"],
                "label": cut(m["name"], BAR_LABEL_CHARS),
                "title": f"{m['name']}: {metric} = {m['value']:.6g}",
                "x": round(min(zero, end), 2),
                "width": round(max(abs(end - zero), 1.0), 2),
                "y": i * BAR_ROW + (BAR_ROW - BAR_HEIGHT) / 2,
                "text_y": i * BAR_ROW + BAR_ROW / 2 + 4,
                "value": m["value"],
            }
        )
    return {
        "bars": bars,
        "width": BAR_LABEL_WIDTH + BAR_AREA_WIDTH + BAR_VALUE_WIDTH,
        "height": len(bars) * BAR_ROW,
        "zero": round(zero, 2),
        "value_x": BAR_LABEL_WIDTH + BAR_AREA_WIDTH + 6,
        "label_x": BAR_LABEL_WIDTH - 6,
        "more": len([m for m in models if m["value"] is not None]) > len(bars),
    }


def _list_page(
    ctx: Context, experiment_id: str, name: str, status: str | None, metric: str, sort: str
) -> dict[str, Any]:
    experiment = get_experiment(ctx, ExperimentId(experiment_id=experiment_id))
    c = t.logged_models.c
    query = select(c.model_id, c.name, c.status, c.run_id, c.creation_time, c.model_type).where(
        c.experiment_id == experiment_id, c.lifecycle_stage == "active"
    )
    if name.strip():
        # Escaped, so % and _ in the text are matched as themselves.
        query = query.where(func.lower(c.name).contains(name.strip().lower(), autoescape=True))
    if status is not None:
        query = query.where(c.status == status)
    rows = list(
        ctx.conn.execute(query.order_by(c.creation_time.desc(), c.model_id).limit(MAX_MODELS + 1))
    )
    more = len(rows) > MAX_MODELS
    rows = rows[:MAX_MODELS]
    ids = [r.model_id for r in rows]
    latest = _latest_metrics(ctx, ids)
    counts = Counter(k for keys in latest.values() for k in keys)
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    note = None
    chosen = metric if metric in counts else None
    if metric and chosen is None:
        note = f"no logged model shown here has the metric {metric!r}"
    if chosen is None and keys:
        chosen = keys[0]
    versions = _tag_values(ctx, ids, VERSIONS_TAG)
    runs = _run_names(ctx, [r.run_id for r in rows if r.run_id])
    models = []
    for r in rows:
        point = latest.get(r.model_id, {}).get(chosen) if chosen else None
        models.append(
            {
                "model_id": r.model_id,
                "name": r.name,
                "status": _badge(r.status),
                "model_type": r.model_type,
                "run_id": r.run_id,
                "run_name": runs.get(r.run_id) if r.run_id else None,
                "created": r.creation_time,
                "value": point["value"] if point else None,
                "step": point["step"] if point else None,
                "versions": registered_versions({VERSIONS_TAG: versions.get(r.model_id, "")}),
            }
        )
    if sort.lstrip("-") == "metric" and chosen is None:
        sort = DEFAULT_SORT
    models = _sorted_models(models, sort)
    return {
        "experiment": experiment,
        "models": models,
        "more": more,
        "limit": MAX_MODELS,
        "metric": chosen,
        "metrics": keys,
        "note": note,
        "sort": sort,
        "sort_targets": sort_targets(sort),
        "chart": bar_chart(models, chosen) if chosen else None,
    }


# -- one model -------------------------------------------------------------------------------


def _metric_view(
    ctx: Context, model_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(one row per key: newest value, its step, run, dataset and the number of values;
    one chart per key with several values, a series per run and dataset; whether the
    values were cut at :data:`MAX_METRIC_ROWS`)."""
    m = t.logged_model_metrics.c
    rows = list(
        ctx.conn.execute(
            select(t.logged_model_metrics)
            .where(m.model_id == model_id)
            .order_by(m.key, m.step, m.timestamp, m.id)
            .limit(MAX_METRIC_ROWS + 1)
        )
    )
    truncated = len(rows) > MAX_METRIC_ROWS
    by_key: dict[str, list[Any]] = defaultdict(list)
    for r in rows[:MAX_METRIC_ROWS]:
        by_key[r.key].append(r)
    table = []
    charts: list[dict[str, Any]] = []
    for key, points in by_key.items():
        newest = max(points, key=lambda r: (r.timestamp, r.step, r.id))
        chart_index = None
        if len(points) > 1:
            chart_index = len(charts)
            charts.append({"key": key, "series": _series(points)})
        table.append(
            {
                "key": key,
                "value": None if newest.is_nan or newest.value is None else newest.value,
                "step": newest.step,
                "run_id": newest.run_id,
                "dataset": newest.dataset_name,
                "digest": newest.dataset_digest,
                "count": len(points),
                "chart": chart_index,
            }
        )
    return table, charts, truncated


def _series(points: list[Any]) -> list[dict[str, Any]]:
    """One series per (run, dataset) a key's values were logged with, as charts.py shapes
    them for the page's chart script."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in points:
        groups[(r.run_id or "", r.dataset_name or "")].append(r)
    series = []
    for (run_id, dataset), rows in groups.items():
        label = " · ".join(
            part
            for part in (f"run {run_id[:7]}" if run_id else "", dataset and f"dataset {dataset}")
            if part
        )
        history = [
            MetricPoint(
                key=r.key,
                value=math.nan if r.is_nan or r.value is None else r.value,
                timestamp=r.timestamp,
                step=r.step,
            )
            for r in rows
        ]
        shown = thin(history)
        series.append(
            {
                "run_id": run_id,
                "label": label or "values",
                "steps": [p.step for p in shown],
                "times": [p.timestamp for p in shown],
                "values": [finite(p.value) for p in shown],
                "total": len(history),
                "truncated": False,
            }
        )
    return series


def _run_links(ctx: Context, model_id: str) -> list[dict[str, Any]]:
    """The runs that read this model (input) or produced it at a step (output)."""
    c = t.run_model_links.c
    rows = list(
        ctx.conn.execute(
            select(c.run_id, c.direction, c.step)
            .where(c.model_id == model_id)
            .order_by(c.id)
            .limit(MAX_RUN_LINKS)
        )
    )
    names = _run_names(ctx, [r.run_id for r in rows])
    seen = set()
    out = []
    for r in rows:
        if (r.run_id, r.direction, r.step) in seen:
            continue
        seen.add((r.run_id, r.direction, r.step))
        out.append(
            {
                "run_id": r.run_id,
                "run_name": names.get(r.run_id),
                "direction": "read it" if r.direction == "input" else "produced it",
                "step": r.step,
            }
        )
    return out


def _files(ctx: Context, row: Any) -> tuple[list[dict[str, Any]], int, str | None]:
    """The files of a model's own folder (path relative to it, size), how many more there
    are, and why none could be listed, if so."""
    try:
        entries = ctx.artifacts.walk(row.storage_path)
    except (OSError, ValueError) as exc:
        return [], 0, f"its folder could not be read: {type(exc).__name__}"
    prefix = row.storage_path.rstrip("/") + "/"
    files = [
        {"path": e.path[len(prefix) :], "size": e.size}
        for e in entries
        if e.path.startswith(prefix)
    ]
    return files[:MAX_FILES], max(len(files) - MAX_FILES, 0), None


def _model_page(ctx: Context, model_id: str) -> dict[str, Any]:
    row = load_logged_model(ctx, model_id, allow_deleted=True)
    experiment = get_experiment(ctx, ExperimentId(experiment_id=row.experiment_id))
    tags: dict[str, str] = {}
    params: dict[str, str] = {}
    for table, into in ((t.logged_model_tags, tags), (t.logged_model_params, params)):
        for r in ctx.conn.execute(select(table).where(table.c.model_id == model_id)):
            into[r.key] = r.value
    metrics, charts, truncated = _metric_view(ctx, model_id)
    run_layout = in_run_layout(row)
    source_runs = load_runs(ctx, [row.run_id]) if row.run_id and row.run_id.isalnum() else []
    files, more_files, files_error = ([], 0, None) if run_layout else _files(ctx, row)
    metric_runs = _run_names(ctx, [m["run_id"] for m in metrics if m["run_id"]])
    return {
        "model": row,
        "status_badge": _badge(row.status),
        "experiment": experiment,
        "source_run": source_runs[0] if source_runs else None,
        "run_layout": run_layout,
        "params": sorted(params.items()),
        "user_tags": sorted((k, v) for k, v in tags.items() if not k.startswith("mlflow.")),
        "system_tags": sorted((k, v) for k, v in tags.items() if k.startswith("mlflow.")),
        "metrics": metrics,
        "metric_runs": metric_runs,
        "charts": charts,
        "metrics_truncated": truncated,
        "metric_limit": MAX_METRIC_ROWS,
        "run_links": _run_links(ctx, model_id),
        "versions": registered_versions(tags),
        "files": files,
        "more_files": more_files,
        "files_error": files_error,
    }


def _open_file(ctx: Context, model_id: str, path: str) -> Any:
    row = load_logged_model(ctx, model_id, allow_deleted=True)
    full = posixpath.join(row.storage_path, path)
    if not ctx.artifacts.exists(full):
        raise NotFoundError(f"logged model {model_id} has no file {path!r}", field="path")
    return ctx.artifacts.open(full)


# -- routes ----------------------------------------------------------------------------------


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get(
        "/experiments/{experiment_id}/logged-models",
        response_class=HTMLResponse,
        name="ui_logged_models",
    )
    def logged_models_page(
        request: Request,
        experiment_id: str,
        name: str = Query("", max_length=256),
        status: str = Query("", max_length=40),
        metric: str = Query("", max_length=250),
        sort: str = Query("", max_length=20),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        experiment_id = checked_experiment_id(experiment_id)
        wanted = _status_filter(status)
        order = _sort(sort)
        data = ui.read(
            lambda ctx: _list_page(ctx, experiment_id, name, wanted, metric, order), viewer
        )
        return ui.render(
            request,
            "logged_models.html",
            viewer,
            name=name,
            status_filter=status,
            status_filters=list(STATUS_FILTERS),
            sorts=SORTS,
            **data,
        )

    @r.get("/logged-models/{model_id}", response_class=HTMLResponse, name="ui_logged_model")
    def logged_model_page(request: Request, model_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        model_id = checked_model_id(model_id)
        data = ui.read(lambda ctx: _model_page(ctx, model_id), viewer)
        return ui.render(request, "logged_model.html", viewer, **data)

    @r.get("/logged-models/{model_id}/files", name="ui_logged_model_file")
    def download(
        request: Request, model_id: str, path: str = Query(..., max_length=4096)
    ) -> StreamingResponse:
        viewer = ui.viewer(request)
        model_id = checked_model_id(model_id)
        clean = clean_relative_path(path)
        handle = ui.read(lambda ctx: _open_file(ctx, model_id, clean), viewer)
        return attachment(handle, clean)

    return r
