"""Chart data for metric histories, embedded in pages as JSON (no extra requests).

Each chart is one metric key; each series is one run's full history of that key, thinned
to at most :data:`MAX_POINTS` points (keeping every bucket's minimum and maximum, so spikes
stay visible). NaN and infinite values become null.
"""

from __future__ import annotations

import math
from typing import Any

from mloop.server.ui.formatting import finite
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
    ctx: Context, runs: list[Run], keys: list[str] | None = None
) -> list[dict[str, Any]]:
    """One chart per metric key over ``runs`` (every key any run has, sorted)."""
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
            shown = thin(history)
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
