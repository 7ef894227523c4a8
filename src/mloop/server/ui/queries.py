"""Read-only summaries the pages need and the tracking API does not offer as one call.

Kept here, small and read-only, so the experiments page does not load every run to count
them. If the tracking domain grows an ``experiment_stats`` function, call that instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from mloop.store.context import Context
from mloop.tracking import tables as t


@dataclass(frozen=True)
class ExperimentStats:
    run_count: int
    last_activity: int | None


def experiment_stats(ctx: Context) -> dict[str, ExperimentStats]:
    """Active run count and the latest run start or end time per experiment id."""
    runs = t.runs
    rows = ctx.conn.execute(
        select(
            runs.c.experiment_id,
            func.count().label("n"),
            func.max(runs.c.start_time).label("last_start"),
            func.max(runs.c.end_time).label("last_end"),
        )
        .where(runs.c.lifecycle_stage == "active")
        .group_by(runs.c.experiment_id)
    )
    stats = {}
    for row in rows:
        times = [v for v in (row.last_start, row.last_end) if v is not None]
        stats[str(row.experiment_id)] = ExperimentStats(
            run_count=int(row.n), last_activity=max(times) if times else None
        )
    return stats
