"""Scheduled monitors: a background thread computes each window once it has closed.

Every ``interval_s`` the scheduler looks for monitors with ``schedule`` on whose next
window closed more than ``delay_seconds`` ago, and computes up to ``max_windows`` windows per
monitor per round (a monitor created long after its traffic started, or a server that was
down, catches up over several rounds). Each window is computed in its own transaction that
first locks the monitor's row, so that with several server replicas each window is computed
once: the second replica finds the bookmark (``last_window_end``) already moved.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mloop.core.http import ServerParts
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.monitoring import tables as t
from mloop.monitoring.monitors import load_monitor_row, monitor_spec
from mloop.monitoring.runs import compute_and_store, due_windows
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.monitoring")

SCHEDULE_INTERVAL_S = 30.0
MAX_WINDOWS_PER_ROUND = 24
ACTOR = "mloop"


class MonitorScheduler(PeriodicTask):
    """Computes the closed windows of scheduled monitors (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        interval_s: float = SCHEDULE_INTERVAL_S,
        max_windows: int = MAX_WINDOWS_PER_ROUND,
    ) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-monitors")
        self.runtime = runtime
        self.max_windows = max_windows

    def run_once(self, now: int | None = None) -> int:
        """One round; how many windows it computed."""
        at = now_ms() if now is None else now
        names = self.runtime.run(_scheduled, write=False)
        computed = 0
        for name in names:
            for _ in range(self.max_windows):
                if not self._next(name, at):
                    break
                computed += 1
        return computed

    def _next(self, name: str, now: int) -> bool:
        def step(ctx: Context) -> bool:
            return _next_window(ctx, name, now)

        return self.runtime.run(step, write=True, actor=ACTOR)


def _scheduled(ctx: Context) -> list[str]:
    rows = ctx.conn.execute(select(t.monitors.c.name, t.monitors.c.spec_json))
    return [r.name for r in rows if monitor_spec(r).schedule]


def _next_window(ctx: Context, name: str, now: int) -> bool:
    """Compute the monitor's oldest due window, if any; whether one was computed."""
    row = load_monitor_row(ctx, name, lock=True)
    due = due_windows(row, now, 1)
    if not due:
        return False
    start, end = due[0]
    summary = compute_and_store(ctx, row, start, end)
    if summary.status == "failed":
        log.warning("monitor %s: window %d failed: %s", name, start, summary.error)
    return True


def monitoring_http(parts: ServerParts) -> list[Any]:
    """Start the scheduler with the server and stop it at shutdown; no routes of its own."""
    scheduler = MonitorScheduler(parts.runtime)

    async def start() -> None:
        scheduler.start()

    async def close() -> None:
        await run_in_threadpool(scheduler.close)

    parts.on_start.append(start)
    parts.on_close.append(close)
    parts.state["monitor_scheduler"] = scheduler
    return []
