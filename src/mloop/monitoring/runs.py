"""Computing a monitor's windows, on demand (the latest, or a backfill) and on schedule.

Windows are aligned to multiples of ``window_seconds`` since the epoch (UTC), so hourly
windows start on the hour. Each computed window replaces any earlier result of the same
window, is stored with its metrics, report and summary, and is handed to the alert rules
(:func:`mloop.alerts.evaluate_rules`, source ``"monitor"``), with the reference's metric
values for rules that compare with them. A window that cannot be computed is stored as
``failed`` with the reason, and the run goes on with the next.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, insert, select, update

from mloop.core.errors import MloopError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.monitoring import tables as t
from mloop.monitoring.monitors import (
    load_monitor_row,
    monitor_spec,
    reference_metrics,
)
from mloop.monitoring.ops import operations
from mloop.monitoring.schemas import (
    MAX_BACKFILL_WINDOWS,
    CreateMonitor,
    GetWindow,
    ListWindows,
    MonitorRun,
    RunMonitor,
    WindowList,
    WindowReport,
    WindowSummary,
)
from mloop.monitoring.targets import subject
from mloop.store.context import Context

if TYPE_CHECKING:
    from mloop.monitoring.compute import WindowResult
    from mloop.monitoring.references import ReferenceData

log = logging.getLogger("mloop.monitoring")


def aligned(time_ms: int, window_ms: int) -> int:
    """The start of the window that holds ``time_ms``."""
    return time_ms - time_ms % window_ms


def closed_windows(spec: CreateMonitor, since: int, until: int) -> list[tuple[int, int]]:
    """The windows that start in ``[since, until)``, aligned, oldest first."""
    size = spec.window_seconds * 1000
    start = aligned(since, size)
    if start < since:
        start += size
    bounds = []
    while start < until:
        bounds.append((start, start + size))
        start += size
    return bounds


def window_link(monitor: str, start: int) -> str:
    return f"/monitors/{monitor}?window={start}"


def _reference(ctx: Context, row: Any, spec: CreateMonitor, start: int) -> ReferenceData | None:
    from mloop.monitoring.references import ReferenceData, rolling_reference

    if spec.reference.kind == "rolling":
        assert spec.reference.windows is not None
        return rolling_reference(ctx, row.name, start, spec.reference.windows)
    return None if not row.reference_json else ReferenceData.from_json(row.reference_json)


def compute_and_store(ctx: Context, row: Any, start: int, end: int) -> WindowSummary:
    """Compute one window of the monitor ``row``, store it and evaluate the alert rules."""
    from mloop.alerts import evaluate_rules
    from mloop.monitoring.compute import compute_window, watched
    from mloop.monitoring.targets import open_target_window, window_observers

    spec = monitor_spec(row)
    columns = watched(spec, spec.columns or {})
    result: WindowResult | None = None
    error: str | None = None
    reference = _reference(ctx, row, spec, start)
    try:
        with open_target_window(ctx, spec, since=start, until=end, columns=columns) as window:
            expected = (
                reference.metrics.get("volume.rows") if reference and reference.metrics else None
            )
            result = compute_window(
                spec,
                None if reference is None else reference.summary,
                window,
                columns,
                expected_rows=expected or None,
                estimator=None if reference is None else reference.estimator,
                observers=window_observers(spec),
            )
    except (MloopError, ValueError) as exc:
        error = str(exc) if isinstance(exc, MloopError) else f"{type(exc).__name__}: {exc}"
        log.warning("monitor %s: window %d could not be computed: %s", row.name, start, error)
    now = now_ms()
    alerts = 0
    metrics = result.metrics if result is not None else {}
    # An empty window is judged too: a rule on volume.rows or gateway.calls is how a stop
    # in traffic becomes an alert.
    if result is not None and result.status in ("ok", "empty"):
        raised = evaluate_rules(
            ctx,
            "monitor",
            metrics,
            window_start=start,
            window_end=end,
            subject=subject(spec, row.name),
            reference=_reference_values(row, reference),
            links={"window": window_link(row.name, start)},
            # Judged at the window's end: in a backfill, cool-downs and "last seen" follow
            # the windows' times, not the seconds the backfill took.
            now=end,
        )
        alerts = len(raised)
    report: dict[str, Any] = result.report if result is not None else {}
    if reference is not None:
        source = {"source": reference.source, "rows": reference.summary.rows}
        report = {**report, "reference": source}
    w = t.monitor_windows
    ctx.conn.execute(delete(w).where(w.c.monitor == row.name, w.c.window_start == start))
    status = "failed" if result is None else result.status
    ctx.conn.execute(
        insert(w).values(
            monitor=row.name,
            window_start=start,
            window_end=end,
            status=status,
            rows=0 if result is None else result.rows,
            metrics_json=orjson.dumps(metrics).decode(),
            report_json=orjson.dumps(report, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            summary_json=None
            if result is None or result.summary is None
            else result.summary.to_json(),
            alerts=alerts,
            error=error,
            computed_at=now,
        )
    )
    if row.last_window_end is None or end > row.last_window_end:
        ctx.conn.execute(
            update(t.monitors).where(t.monitors.c.name == row.name).values(last_window_end=end)
        )
    return WindowSummary(
        start=start,
        end=end,
        status=status,
        rows=0 if result is None else result.rows,
        metrics=metrics,
        alerts=alerts,
        error=error,
        computed_at=now,
    )


def _reference_values(row: Any, reference: ReferenceData | None) -> dict[str, float] | None:
    values = (
        reference.metrics if reference is not None and reference.metrics else reference_metrics(row)
    )
    if not values:
        return None
    return {k: v for k, v in values.items() if isinstance(v, int | float)}


@operations.post("/monitors/run", RunMonitor, MonitorRun)
def run_monitor(ctx: Context, req: RunMonitor) -> MonitorRun:
    """Compute the windows starting in ``[since, until)`` (``until`` defaults to the end of
    the last closed window), or the last closed window."""
    row = load_monitor_row(ctx, req.name)
    spec = monitor_spec(row)
    size = spec.window_seconds * 1000
    # The end of the last closed window: a window still open is not computed by default.
    closed = aligned(now_ms() - spec.delay_seconds * 1000, size)
    if req.since is None and req.until is None:
        bounds = [(closed - size, closed)]
    else:
        since = req.since if req.since is not None else closed - size
        until = req.until if req.until is not None else closed
        if until <= since:
            raise ValidationError("until must be after since", field="until")
        bounds = closed_windows(spec, since, until)
        if len(bounds) > MAX_BACKFILL_WINDOWS:
            raise ValidationError(
                f"that is {len(bounds)} windows; compute at most {MAX_BACKFILL_WINDOWS} at once "
                "(run a shorter range several times)",
                field="since",
            )
    windows = []
    for start, end in bounds:
        # A rolling reference reads the windows just stored: each sees the ones before it.
        windows.append(compute_and_store(ctx, load_monitor_row(ctx, row.name), start, end))
    return MonitorRun(monitor=row.name, windows=windows)


def _summary(r: Any) -> WindowSummary:
    return WindowSummary(
        start=r.window_start,
        end=r.window_end,
        status=r.status,
        rows=r.rows,
        metrics=orjson.loads(r.metrics_json),
        alerts=r.alerts,
        error=r.error,
        computed_at=r.computed_at,
    )


@operations.get("/monitors/windows", ListWindows, WindowList)
def list_monitor_windows(ctx: Context, req: ListWindows) -> WindowList:
    """A monitor's computed windows, newest first, with their metrics."""
    row = load_monitor_row(ctx, req.name)
    w = t.monitor_windows
    query = select(w).where(w.c.monitor == row.name)
    if req.since is not None:
        query = query.where(w.c.window_start >= req.since)
    if req.until is not None:
        query = query.where(w.c.window_start < req.until)
    rows = ctx.conn.execute(query.order_by(w.c.window_start.desc()).limit(req.max_results))
    return WindowList(monitor=row.name, windows=[_summary(r) for r in rows])


@operations.get("/monitors/window", GetWindow, WindowReport)
def get_monitor_window(ctx: Context, req: GetWindow) -> WindowReport:
    """One computed window's whole report."""
    from mloop.core.errors import NotFoundError

    row = load_monitor_row(ctx, req.name)
    w = t.monitor_windows
    found = ctx.conn.execute(
        select(w).where(w.c.monitor == row.name, w.c.window_start == req.start)
    ).first()
    if found is None:
        raise NotFoundError(
            f"monitor {row.name!r} has no computed window starting at {req.start}",
            field="start",
        )
    return WindowReport(
        **_summary(found).model_dump(), monitor=row.name, report=orjson.loads(found.report_json)
    )


def due_windows(row: Any, now: int, limit: int) -> list[tuple[int, int]]:
    """The closed windows a scheduled monitor has not computed yet, oldest first."""
    spec = monitor_spec(row)
    size = spec.window_seconds * 1000
    closed_until = aligned(now - spec.delay_seconds * 1000, size)
    since = (
        row.last_window_end if row.last_window_end is not None else aligned(row.creation_time, size)
    )
    return closed_windows(spec, since, closed_until)[:limit]
