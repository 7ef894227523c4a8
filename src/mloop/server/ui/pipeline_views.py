"""What the pipeline pages draw, computed on the server: the step graph as a layered DAG,
the steps' attempts as Gantt bars on a time axis, and the duration chart of a pipeline's
runs.

The DAG puts each node in the column of its depth (the longest path from a node without
upstream), orders each column by the mean row of its neighbours (a few barycentre sweeps,
which untangle fan-outs and fan-ins), and joins nodes with cubic Bézier paths from the
right edge of the upstream node to the left edge of the downstream one. Everything is in
SVG user units; the template only writes the shapes out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mloop.pipelines.schemas import GraphNode, PipelineRunInfo, StepRun
from mloop.server.ui.formatting import duration, ms

# Graphs larger than this are listed, not drawn: an SVG of thousands of nodes helps nobody
# and costs the browser more than the table does.
MAX_DRAWN = 1000

NODE_W, NODE_H = 168, 34
GAP_X, GAP_Y = 56, 14
PAD = 8
LABEL_CHARS = 22  # characters of a node's name that fit in NODE_W

GANTT_W = 720  # the time axis' width
GANTT_LABEL_W = 180  # the step names' column
GANTT_ROW = 20
GANTT_AXIS = 24
SWEEPS = 4


@dataclass
class DagNode:
    id: str
    step: str
    status: str
    label: str
    depth: int
    x: float = 0.0
    y: float = 0.0
    title: str = ""


@dataclass
class Dag:
    width: float
    height: float
    nodes: list[DagNode] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    node_width: int = NODE_W
    node_height: int = NODE_H


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _depths(nodes: Sequence[GraphNode]) -> dict[str, int]:
    """Each node's depth; the stored graph lists a node after its upstream nodes."""
    depth: dict[str, int] = {}
    for node in nodes:
        depth[node.id] = 1 + max((depth[u] for u in node.upstream if u in depth), default=-1)
    return depth


def _order_columns(nodes: Sequence[GraphNode], depth: dict[str, int]) -> list[list[str]]:
    """The nodes of each column, ordered to keep edges short and uncrossed (barycentres)."""
    columns: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node in nodes:
        columns[depth[node.id]].append(node.id)
    upstream = {n.id: [u for u in n.upstream if u in depth] for n in nodes}
    downstream: dict[str, list[str]] = {n.id: [] for n in nodes}
    for node_id, ups in upstream.items():
        for up in ups:
            downstream[up].append(node_id)

    def row_of() -> dict[str, float]:
        # Rows centred per column, so a short column sits in the middle of a tall one.
        tallest = max(len(c) for c in columns)
        return {
            n: i + (tallest - len(column)) / 2 for column in columns for i, n in enumerate(column)
        }

    def sweep(order: range, neighbours: dict[str, list[str]]) -> None:
        for c in order:
            rows = row_of()

            def centre(n: str, rows: dict[str, float] = rows) -> float:
                near = neighbours[n]
                return sum(rows[m] for m in near) / len(near) if near else rows[n]

            columns[c].sort(key=centre)  # stable: ties keep their order

    for _ in range(SWEEPS):
        sweep(range(1, len(columns)), upstream)
        sweep(range(len(columns) - 2, -1, -1), downstream)
    return columns


def step_graph(nodes: Sequence[GraphNode], steps: Sequence[StepRun]) -> Dag | None:
    """The layered drawing of a run's graph, nodes coloured by their steps' status; None for
    a graph too large to draw (:data:`MAX_DRAWN`)."""
    if not nodes or len(nodes) > MAX_DRAWN:
        return None
    by_node = {s.node: s for s in steps}
    depth = _depths(nodes)
    columns = _order_columns(nodes, depth)
    tallest = max(len(c) for c in columns)
    placed: dict[str, DagNode] = {}
    for c, column in enumerate(columns):
        offset = (tallest - len(column)) * (NODE_H + GAP_Y) / 2
        for r, node_id in enumerate(column):
            placed[node_id] = DagNode(
                id=node_id,
                step="",
                status="pending",
                label="",
                depth=c,
                x=PAD + c * (NODE_W + GAP_X),
                y=PAD + offset + r * (NODE_H + GAP_Y),
            )
    for node in nodes:
        drawn = placed[node.id]
        step = by_node.get(node.id)
        drawn.step = node.step
        drawn.status = step.status if step else "pending"
        drawn.label = _cut(node.id, LABEL_CHARS)
        took = f", {ms(step.duration_ms)}" if step and step.duration_ms is not None else ""
        drawn.title = f"{node.id} ({node.step}): {drawn.status}{took}"
    edges = []
    for node in nodes:
        to = placed[node.id]
        for up in dict.fromkeys(node.upstream):  # a node used twice is one edge
            fro = placed[up]
            x1, y1 = fro.x + NODE_W, fro.y + NODE_H / 2
            x2, y2 = to.x, to.y + NODE_H / 2
            bend = (x2 - x1) / 2
            edges.append(
                {
                    "source": up,
                    "target": node.id,
                    "d": f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}",
                }
            )
    return Dag(
        width=2 * PAD + len(columns) * NODE_W + (len(columns) - 1) * GAP_X,
        height=2 * PAD + tallest * NODE_H + (tallest - 1) * GAP_Y,
        nodes=[placed[n.id] for n in nodes],
        edges=edges,
    )


# -- the timing chart ----------------------------------------------------------------------


# Tick spacings past ten seconds: whole seconds, minutes, hours and days a clock reads.
_SECOND, _MINUTE, _HOUR = 1000, 60_000, 3_600_000
_CLOCK_STEPS = (
    *(n * _SECOND for n in (10, 15, 30)),
    *(n * _MINUTE for n in (1, 2, 5, 10, 15, 30)),
    *(n * _HOUR for n in (1, 2, 3, 6, 12, 24)),
)


def _nice_step(span: float, ticks: int = 6) -> float:
    """A tick spacing giving about ``ticks`` ticks: 1, 2 or 5 times a power of ten up to
    ten seconds, then a spacing a clock reads (15 s, 5 min, 1 h...)."""
    raw = max(span / ticks, 1.0)
    if raw > 5 * _SECOND:
        return next(
            (s for s in _CLOCK_STEPS if s >= raw),
            _CLOCK_STEPS[-1] * math.ceil(raw / _CLOCK_STEPS[-1]),
        )
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _tick_label(offset_ms: float) -> str:
    if offset_ms == 0:
        return "0"
    return ms(offset_ms) if offset_ms < 60_000 else duration(0, int(offset_ms))


def timing_chart(run: PipelineRunInfo, steps: Sequence[StepRun], now: int) -> dict[str, Any] | None:
    """Gantt rows, one per step that started (earliest first): a bar per attempt (a running
    attempt reaches ``now``), a tick for a cached or refused step; None when no step started
    or there are more than :data:`MAX_DRAWN`."""
    started = [s for s in steps if s.start_time is not None]
    if not started or len(started) > MAX_DRAWN:
        return None
    origin = run.start_time
    ends = [s.end_time for s in started if s.end_time is not None]
    ends += [a.end_time for s in started for a in s.attempts if a.end_time is not None]
    if run.end_time is not None:
        ends.append(run.end_time)
    if run.status == "running" or any(s.status == "running" for s in started):
        ends.append(now)
    span = max([*ends, *(s.start_time for s in started if s.start_time)]) - origin
    span = max(span, 1)
    scale = GANTT_W / span

    def x(t: int) -> float:
        return round(GANTT_LABEL_W + (t - origin) * scale, 2)

    rows = []
    order = sorted(range(len(started)), key=lambda i: (started[i].start_time, i))
    for row, i in enumerate(order):
        step = started[i]
        y = GANTT_AXIS + row * GANTT_ROW
        bars = []
        for a in step.attempts:
            if a.start_time is None or a.end_time is None:
                continue
            bars.append(
                {
                    "x": x(a.start_time),
                    "width": max(x(a.end_time) - x(a.start_time), 1.5),
                    "status": a.status,
                    "title": f"{step.node} attempt {a.attempt}: {a.status}, "
                    f"{ms(a.end_time - a.start_time)}" + (f" ({a.error[:200]})" if a.error else ""),
                }
            )
        if step.status == "running":
            begun = max([a.end_time for a in step.attempts if a.end_time] or [step.start_time or 0])
            bars.append(
                {
                    "x": x(begun),
                    "width": max(x(now) - x(begun), 1.5),
                    "status": "running",
                    "title": f"{step.node} attempt {len(step.attempts) + 1}: running",
                }
            )
        marks = []
        if not bars:  # cached, or failed before it could run (its arguments)
            marks.append({"x": x(step.start_time or origin), "status": step.status})
        rows.append(
            {
                "node": step.node,
                "label": _cut(step.node, 26),
                "y": y,
                "bars": bars,
                "marks": marks,
                "status": step.status,
            }
        )
    tick = _nice_step(span)
    ticks = [
        {"x": x(origin + int(k * tick)), "label": _tick_label(k * tick)}
        for k in range(int(span // tick) + 1)
    ]
    return {
        "width": GANTT_LABEL_W + GANTT_W + PAD * 2,
        "height": GANTT_AXIS + len(rows) * GANTT_ROW + PAD,
        "label_width": GANTT_LABEL_W,
        "axis_y": GANTT_AXIS - 6,
        "row_height": GANTT_ROW,
        "rows": rows,
        "ticks": ticks,
        "span_ms": span,
    }


# -- the pipelines page --------------------------------------------------------------------


def duration_chart(name: str, runs: Sequence[PipelineRunInfo]) -> dict[str, Any]:
    """A pipeline's run durations (seconds) by run number, succeeded and failed runs as two
    series, in the shape of :func:`mloop.server.ui.charts.metric_charts` so the shared chart
    code (``charts_block``, ``app.js``) draws it: x is the run number, or its start time."""
    ended = sorted((r for r in runs if r.duration_ms is not None), key=lambda r: r.id)
    series = []
    for status in ("succeeded", "failed"):
        mine = [r for r in ended if r.status == status]
        if mine:
            series.append(
                {
                    "run_id": status,
                    "label": status,
                    "steps": [r.id for r in mine],
                    "times": [r.start_time for r in mine],
                    "values": [round((r.duration_ms or 0) / 1000, 3) for r in mine],
                    "total": len(mine),
                    "truncated": False,
                }
            )
    return {"key": f"{name}: duration (s) by run number", "series": series}
