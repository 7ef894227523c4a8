"""Reads the monitoring pages need beyond the operations: which windows a monitor has, the
reports of a run of windows at once, a window's stored summary and the reference it was
compared with, and the dataset version a reference was read from.

Every read names the monitor; a monitor or window that does not exist raises
``NotFoundError`` naming it, as the operations do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import select

from mloop.core.errors import NotFoundError
from mloop.monitoring import tables as t
from mloop.monitoring.monitors import load_monitor_row, monitor_spec
from mloop.monitoring.schemas import WindowReport
from mloop.store.context import Context

if TYPE_CHECKING:
    from mloop.monitoring.drift import DataSummary
    from mloop.monitoring.references import ReferenceData

MAX_STARTS = 100_000  # windows listed at most (11 years of hourly windows)
MAX_REPORTS = 500  # windows read with their whole report at once


def window_starts(ctx: Context, monitor: str) -> list[int]:
    """The starts of a monitor's computed windows, oldest first."""
    row = load_monitor_row(ctx, monitor)
    w = t.monitor_windows.c
    query = (
        select(w.window_start)
        .where(w.monitor == row.name)
        .order_by(w.window_start.desc())
        .limit(MAX_STARTS)
    )
    return sorted(int(start) for start in ctx.conn.execute(query).scalars())


def window_reports(ctx: Context, monitor: str, since: int, until: int) -> list[WindowReport]:
    """The computed windows starting in ``[since, until)`` with their whole reports, oldest
    first (at most :data:`MAX_REPORTS`, the newest ones)."""
    row = load_monitor_row(ctx, monitor)
    w = t.monitor_windows
    query = (
        select(w)
        .where(w.c.monitor == row.name, w.c.window_start >= since, w.c.window_start < until)
        .order_by(w.c.window_start.desc())
        .limit(MAX_REPORTS)
    )
    found = [
        WindowReport(
            monitor=row.name,
            start=r.window_start,
            end=r.window_end,
            status=r.status,
            rows=r.rows,
            metrics=orjson.loads(r.metrics_json),
            alerts=r.alerts,
            error=r.error,
            computed_at=r.computed_at,
            report=orjson.loads(r.report_json),
        )
        for r in ctx.conn.execute(query)
    ]
    return found[::-1]


def window_summary(ctx: Context, monitor: str, start: int) -> DataSummary | None:
    from mloop.monitoring.drift import DataSummary

    """The stored summary of the window starting at ``start`` (None for a window without
    rows or one that failed)."""
    row = load_monitor_row(ctx, monitor)
    w = t.monitor_windows.c
    found = ctx.conn.execute(
        select(w.summary_json).where(w.monitor == row.name, w.window_start == start)
    ).first()
    if found is None:
        raise NotFoundError(
            f"monitor {row.name!r} has no computed window starting at {start}", field="start"
        )
    return None if found.summary_json is None else DataSummary.from_json(found.summary_json)


def window_reference(ctx: Context, monitor: str, start: int) -> ReferenceData | None:
    from mloop.monitoring.references import ReferenceData, rolling_reference

    """What the window starting at ``start`` is compared with: the monitor's stored
    reference, or for a rolling reference the windows before it merged (None when there is
    none yet)."""
    row = load_monitor_row(ctx, monitor)
    spec = monitor_spec(row)
    if spec.reference.kind == "rolling":
        assert spec.reference.windows is not None
        return rolling_reference(ctx, row.name, start, spec.reference.windows)
    return None if not row.reference_json else ReferenceData.from_json(row.reference_json)


@dataclass(frozen=True)
class DatasetReference:
    """The dataset version a monitor's reference was read from."""

    name: str
    version: int


def dataset_reference(ctx: Context, monitor: str) -> DatasetReference | None:
    """The dataset version of a ``dataset`` reference (the monitor pinned it when it was
    created); None for other references."""
    row = load_monitor_row(ctx, monitor)
    ref = monitor_spec(row).reference
    if ref.kind != "dataset" or ref.dataset is None:
        return None
    # create_monitor pins the version it read.
    return None if ref.version is None else DatasetReference(ref.dataset, ref.version)
