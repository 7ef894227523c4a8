"""Per-run metric summaries (count, lowest and highest finite value) for tables of runs.

The latest value of each metric is kept in ``latest_metrics``; the lowest and highest need
the whole history. A runs table shows them for a page of runs at once, so they are read in
one query over the runs' chunks (values only: steps and timestamps are not needed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import BindParameter, bindparam, select

from mloop.store.context import Context
from mloop.tracking import tables as t

# Run ids per query: keeps the IN list well below every database's parameter limit.
_BATCH = 500

_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_VALUES_IN = (
    select(t.metric_chunks.c.run_id, t.metric_chunks.c.key, t.metric_chunks.c.value_data)
    .where(t.metric_chunks.c.run_id.in_(_IDS))
    .order_by(t.metric_chunks.c.id)
)


@dataclass(frozen=True)
class MetricSummary:
    """What a run's history of one metric holds: how many values, the lowest and highest
    finite value (None when every value is NaN or infinite)."""

    count: int
    min_value: float | None
    max_value: float | None


def metric_summaries(ctx: Context, run_ids: list[str]) -> dict[str, dict[str, MetricSummary]]:
    """``{run_id: {key: summary}}`` for every metric the runs logged; unknown ids are absent."""
    chunks: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for start in range(0, len(run_ids), _BATCH):
        batch = run_ids[start : start + _BATCH]
        for row in ctx.conn.execute(_VALUES_IN, {"ids": batch}):
            chunks[(row.run_id, row.key)].append(bytes(row.value_data))
    out: dict[str, dict[str, MetricSummary]] = defaultdict(dict)
    for (run_id, key), blobs in chunks.items():
        values = np.concatenate([np.frombuffer(b, dtype="<f8") for b in blobs])
        finite = values[np.isfinite(values)]
        out[run_id][key] = MetricSummary(
            count=int(values.size),
            min_value=float(finite.min()) if finite.size else None,
            max_value=float(finite.max()) if finite.size else None,
        )
    return dict(out)
