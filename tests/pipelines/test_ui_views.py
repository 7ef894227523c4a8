"""What the pipeline pages draw, computed without a server: the layered step graph, the
timing chart's bars and marks, and the duration chart's series."""

from __future__ import annotations

import itertools
from typing import Any

from mloop.pipelines.schemas import Attempt, GraphNode, PipelineRunInfo, StepRun
from mloop.server.ui.pipeline_views import (
    MAX_DRAWN,
    NODE_H,
    NODE_W,
    duration_chart,
    step_graph,
    timing_chart,
)

T0 = 1_800_000_000_000


def _node(node_id: str, *upstream: str) -> GraphNode:
    return GraphNode(id=node_id, step=node_id.split("_")[0], ref="m:f", upstream=list(upstream))


def _step(node: str, status: str = "succeeded", **fields: Any) -> StepRun:
    return StepRun(node=node, step=node, status=status, **fields)


def _run(**fields: Any) -> PipelineRunInfo:
    base: dict[str, Any] = {
        "id": 1,
        "pipeline": "p",
        "ref": "m:p",
        "run_id": "r" * 32,
        "status": "succeeded",
        "executor": "local",
        "trigger": "",
        "params": {},
        "created_by": "ann",
        "start_time": T0,
        "end_time": T0 + 10_000,
        "duration_ms": 10_000,
    }
    return PipelineRunInfo(**{**base, **fields})


def _crossings(dag: Any) -> int:
    """Pairs of edges between the same two columns whose ends are in opposite orders."""
    at = {n.id: (n.depth, n.y) for n in dag.nodes}
    edges = [(at[e["source"]], at[e["target"]]) for e in dag.edges]
    count = 0
    for (a1, a2), (b1, b2) in itertools.combinations(edges, 2):
        if a1[0] == b1[0] and a2[0] == b2[0] and (a1[1] - b1[1]) * (a2[1] - b2[1]) < 0:
            count += 1
    return count


def test_nodes_sit_in_the_column_of_their_depth_without_overlapping() -> None:
    # a diamond with a long side: a -> b -> c -> e, a -> d -> e
    nodes = [_node("a"), _node("b", "a"), _node("d", "a"), _node("c", "b"), _node("e", "c", "d")]
    dag = step_graph(nodes, [_step("a"), _step("b", "failed")])
    assert dag is not None
    depth = {n.id: n.depth for n in dag.nodes}
    assert depth == {"a": 0, "b": 1, "d": 1, "c": 2, "e": 3}  # e waits for the longest path
    assert [n.id for n in dag.nodes] == ["a", "b", "d", "c", "e"]  # the graph's order
    status = {n.id: n.status for n in dag.nodes}
    assert status == {
        "a": "succeeded",
        "b": "failed",
        "d": "pending",
        "c": "pending",
        "e": "pending",
    }
    boxes = [(n.x, n.y) for n in dag.nodes]
    for (x1, y1), (x2, y2) in itertools.combinations(boxes, 2):
        assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    for n in dag.nodes:
        assert n.x >= 0 and n.x + NODE_W <= dag.width and n.y >= 0 and n.y + NODE_H <= dag.height
    assert len(dag.edges) == 5
    # each edge leaves the right side of its source and enters the left side of its target
    place = {n.id: n for n in dag.nodes}
    for e in dag.edges:
        start, end = e["d"].split(" C")[0], e["d"].split(" ")[-1]
        assert start == f"M{place[e['source']].x + NODE_W:g},{place[e['source']].y + NODE_H / 2:g}"
        assert end == f"{place[e['target']].x:g},{place[e['target']].y + NODE_H / 2:g}"


def test_columns_are_ordered_to_untangle_edges() -> None:
    # two chains listed interleaved so that the second column starts crossed
    nodes = [
        _node("a1"),
        _node("a2"),
        _node("b2", "a2"),
        _node("b1", "a1"),
        _node("c1", "b1"),
        _node("c2", "b2"),
    ]
    dag = step_graph(nodes, [])
    assert dag is not None and _crossings(dag) == 0


def test_a_node_used_twice_is_one_edge_and_names_are_cut() -> None:
    long = "step_with_a_very_long_name_indeed"
    dag = step_graph([_node("a"), _node(long, "a", "a")], [])
    assert dag is not None and len(dag.edges) == 1
    drawn = dag.nodes[1]
    assert drawn.label.endswith("…") and len(drawn.label) < len(long)
    assert drawn.title.startswith(long)


def test_graphs_too_large_to_draw_are_not_drawn() -> None:
    nodes = [_node(f"s_{i}") for i in range(MAX_DRAWN + 1)]
    assert step_graph(nodes, []) is None
    assert step_graph(nodes[:MAX_DRAWN], []) is not None


def test_timing_bars_per_attempt_marks_for_cached_steps_and_running_attempts() -> None:
    flaky = _step(
        "flaky",
        attempts=[
            Attempt(attempt=1, status="failed", start_time=T0, end_time=T0 + 2000, error="x"),
            Attempt(attempt=2, status="succeeded", start_time=T0 + 2000, end_time=T0 + 5000),
        ],
        start_time=T0,
        end_time=T0 + 5000,
    )
    cached = _step("cached", "cached", start_time=T0 + 100, end_time=T0 + 100, cache_hit=True)
    running = _step("slow", "running", start_time=T0 + 5000)
    pending = _step("later", "pending")
    run = _run(status="running", end_time=None, duration_ms=None)
    chart = timing_chart(run, [running, flaky, cached, pending], now=T0 + 8000)
    assert chart is not None
    rows = {r["node"]: r for r in chart["rows"]}
    assert list(rows) == ["flaky", "cached", "slow"]  # by start; a pending step has no row
    assert [b["status"] for b in rows["flaky"]["bars"]] == ["failed", "succeeded"]
    first, second = rows["flaky"]["bars"]
    assert first["x"] == chart["label_width"] and second["x"] == first["x"] + first["width"]
    assert "attempt 1: failed" in first["title"]
    assert rows["cached"]["bars"] == [] and rows["cached"]["marks"][0]["status"] == "cached"
    (bar,) = rows["slow"]["bars"]
    assert bar["status"] == "running"
    assert bar["x"] + bar["width"] == chart["label_width"] + 720  # it reaches now: the axis' end
    assert chart["span_ms"] == 8000
    assert [t["label"] for t in chart["ticks"]][:3] == ["0", "2.00 s", "4.00 s"]


def test_no_timing_chart_before_a_step_starts() -> None:
    assert timing_chart(_run(), [_step("a", "pending")], now=T0) is None


def test_long_runs_get_minute_ticks() -> None:
    step = _step(
        "a",
        attempts=[Attempt(attempt=1, status="succeeded", start_time=T0, end_time=T0 + 3_600_000)],
        start_time=T0,
        end_time=T0 + 3_600_000,
    )
    chart = timing_chart(_run(end_time=T0 + 3_600_000), [step], now=T0)
    assert chart is not None
    labels = [t["label"] for t in chart["ticks"]]
    assert labels[0] == "0" and labels[-1] == "1h 00m"


def test_the_duration_chart_splits_succeeded_and_failed_runs() -> None:
    runs = [
        _run(id=3, status="failed", duration_ms=1500),
        _run(id=2, status="succeeded", duration_ms=2000),
        _run(id=1, status="succeeded", duration_ms=1000),
        _run(id=4, status="running", end_time=None, duration_ms=None),
    ]
    chart = duration_chart("train", runs)
    assert chart["key"].startswith("train")
    by_label = {s["label"]: s for s in chart["series"]}
    assert by_label["succeeded"]["steps"] == [1, 2]
    assert by_label["succeeded"]["values"] == [1.0, 2.0]
    assert by_label["failed"]["steps"] == [3] and by_label["failed"]["values"] == [1.5]
    assert duration_chart("train", [runs[3]])["series"] == []
