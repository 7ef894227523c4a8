"""Chart data for metric histories, embedded in pages as JSON (no extra requests), and
the data of an experiment's chart view (curves, scatter, parallel coordinates).

Each chart is one metric key; each series is one run's full history of that key, thinned
to at most :data:`MAX_POINTS` points (keeping every bucket's minimum and maximum, so spikes
stay visible). NaN and infinite values become null.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mloop.server.ui.formatting import cut, finite
from mloop.server.ui.links import link_to
from mloop.store.context import Context
from mloop.tracking.ingest import get_metric_history
from mloop.tracking.schemas import GetMetricHistory, MetricPoint, Run

MAX_POINTS = 4000
MAX_CHARTS = 200
MAX_HISTORY = 100_000  # points read per run and key; longer histories show their start


def run_labels(runs: list[Run]) -> dict[str, str]:
    """A legend label per run id: the run name, with a short id where names repeat."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.info.run_name] = counts.get(run.info.run_name, 0) + 1
    return {
        run.info.run_id: (
            run.info.run_name
            if counts[run.info.run_name] == 1
            else f"{run.info.run_name} ({run.info.run_id[:7]})"
        )
        for run in runs
    }


def thin(points: list[MetricPoint], limit: int = MAX_POINTS) -> list[MetricPoint]:
    """At most about ``limit`` points: each bucket's first, min and max, in order."""
    if len(points) <= limit:
        return points
    per_bucket = math.ceil(len(points) / (limit // 3))
    kept: list[MetricPoint] = []
    for start in range(0, len(points), per_bucket):
        bucket = points[start : start + per_bucket]
        numbers = [p for p in bucket if math.isfinite(p.value)]
        chosen = {id(bucket[0]): bucket[0]}
        if numbers:
            low = min(numbers, key=lambda p: p.value)
            high = max(numbers, key=lambda p: p.value)
            chosen[id(low)] = low
            chosen[id(high)] = high
        kept.extend(p for p in bucket if id(p) in chosen)
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


def metric_charts(
    ctx: Context, runs: list[Run], keys: list[str] | None = None, max_points: int = MAX_POINTS
) -> list[dict[str, Any]]:
    """One chart per metric key over ``runs`` (every key any run has, sorted); each run's
    history thinned to about ``max_points`` points."""
    labels = run_labels(runs)
    if keys is None:
        keys = sorted({key for run in runs for key in run.data.metrics})
    charts = []
    for key in keys[:MAX_CHARTS]:
        series = []
        for run in runs:
            if key not in run.data.metrics:
                continue
            history = get_metric_history(
                ctx, GetMetricHistory(run_id=run.info.run_id, key=key, max_results=MAX_HISTORY)
            ).metrics
            shown = thin(history, max_points)
            series.append(
                {
                    "run_id": run.info.run_id,
                    "label": labels[run.info.run_id],
                    "steps": [p.step for p in shown],
                    "times": [p.timestamp for p in shown],
                    "values": [finite(p.value) for p in shown],
                    "total": len(history),
                    "truncated": len(history) >= MAX_HISTORY,
                }
            )
        if series:
            charts.append({"key": key, "series": series})
    return charts


# -- the experiment chart view --------------------------------------------------------------

MAX_VIEW_RUNS = 100  # runs one chart view draws (the first ones in the table's order)
VIEW_POINTS = 1000  # points per run on the overlaid curves: 100 runs stay light to draw
MAX_AXES = 8  # params the parallel-coordinates chart starts with
MAX_VALUE_CHARS = 200  # a param value longer than this is cut (categories need no more)


def keys_by_use(runs: list[Run], attr: str) -> list[str]:
    """The metric (``attr="metrics"``) or param keys of ``runs``: those most runs have
    first, ties in alphabetical order."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in getattr(run.data, attr):
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def varying_params(runs: list[Run], keys: list[str]) -> list[str]:
    """The ``keys`` worth an axis: set on at least half of the runs, with at least two
    different values among them (a param set on one run of many says little)."""
    chosen = []
    for key in keys:
        values = [r.data.params[key] for r in runs if key in r.data.params]
        if 2 * len(values) >= len(runs) and len(set(values)) > 1:
            chosen.append(key)
    return chosen


def chart_view(
    ctx: Context,
    runs: list[Run],
    metric: str | None,
    *,
    sort_metric: str | None = None,
) -> dict[str, Any]:
    """What the chart view draws for ``runs``: each run's params and latest metrics, the
    keys to choose from, and the full curves of one metric.

    The metric is ``metric`` when a run has it; else the metric the runs are sorted by,
    else the one most runs have. ``note`` says when a requested metric was not found.
    """
    metrics = keys_by_use(runs, "metrics")
    params = keys_by_use(runs, "params")
    note = None
    chosen = metric if metric in metrics else None
    if metric and chosen is None:
        note = f"no run shown here has the metric {metric!r}"
    if chosen is None:
        chosen = sort_metric if sort_metric in metrics else (metrics[0] if metrics else None)
    varying = varying_params(runs, params)
    labels = run_labels(runs)
    curves = None
    if chosen is not None:
        found = metric_charts(ctx, runs, [chosen], max_points=VIEW_POINTS)
        curves = found[0] if found else None
    return {
        "metric": chosen,
        "metrics": metrics,
        "params": params,
        "varying_params": varying,
        "axes": varying[:MAX_AXES],
        "param": varying[0] if varying else (params[0] if params else None),
        "note": note,
        "runs": [
            {
                "id": run.info.run_id,
                "label": labels[run.info.run_id],
                "url": link_to("run", run_id=run.info.run_id),
                "params": {k: cut(v, MAX_VALUE_CHARS) for k, v in run.data.params.items()},
                "metrics": {k: finite(v) for k, v in run.data.metrics.items()},
            }
            for run in runs
        ],
        "curves": curves,
    }


def variant_traffic_charts(
    variants: list[str],
    values: Callable[[str, Callable[[Any], Any], Any], list[Any]],
    per_minute: float,
    *,
    p50: Callable[[Any], float | None],
    p99: Callable[[Any], float | None],
    error_rate: Callable[[Any], float | None],
) -> dict[str, Any]:
    """The request rate, latency (p50, p99 dashed) and error-rate charts of variants that
    serve traffic (an endpoint's, a gateway route's sides), for ``endpoints.js``.
    ``values(variant, fn, empty)`` gives ``fn`` of each time bucket's figures of the
    variant, or ``empty`` for a bucket without traffic."""
    latency: list[dict[str, Any]] = []
    for v in variants:
        latency.append({"label": f"{v} p50", "variant": v, "values": values(v, p50, None)})
        latency.append(
            {"label": f"{v} p99", "variant": v, "dash": True, "values": values(v, p99, None)}
        )
    return {
        "rate": {
            "type": "line",
            "format": "rate",
            "series": [
                {
                    "label": v,
                    "variant": v,
                    "values": values(v, lambda s: s.requests * per_minute, 0),
                }
                for v in variants
            ],
        },
        "latency": {"type": "line", "format": "ms", "series": latency},
        "errors": {
            "type": "line",
            "format": "pct",
            "series": [
                {"label": v, "variant": v, "values": values(v, error_rate, None)} for v in variants
            ],
        },
    }
