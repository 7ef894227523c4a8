"""Writing pipeline runs: the start (every node pending), batches of step states and cache
entries while it runs, and its outcome. The driver sends these; a run's steps cost one
statement batch per flush, not one transaction per step."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.pipelines import tables as t
from mloop.pipelines.ops import operations
from mloop.pipelines.schemas import (
    CacheEntries,
    CacheEntry,
    LookupCache,
    PipelineRunInfo,
    RecordPipelineRun,
    StartPipelineRun,
)
from mloop.store.context import Context
from mloop.store.sql import insert_ignore
from mloop.tracking.runs import load_run_row as load_run_row_of_tracking


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def run_info(row: Any) -> PipelineRunInfo:
    return PipelineRunInfo(
        id=row.id,
        pipeline=row.pipeline,
        ref=row.ref,
        run_id=row.run_id,
        status=row.status,
        executor=row.executor,
        trigger=row.trigger,
        params=json.loads(row.params_json),
        outputs=json.loads(row.outputs_json) if row.outputs_json is not None else None,
        error=row.error,
        created_by=row.created_by,
        start_time=row.start_time,
        end_time=row.end_time,
        duration_ms=row.end_time - row.start_time if row.end_time is not None else None,
    )


def load_run_row(ctx: Context, run: int, *, lock: bool = False) -> Any:
    query = select(t.pipeline_runs).where(t.pipeline_runs.c.id == run)
    row = ctx.conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"pipeline run {run} does not exist", field="id")
    return row


def _check_graph(req: StartPipelineRun) -> None:
    seen: set[str] = set()
    for i, node in enumerate(req.graph.nodes):
        check_text(node.id, f"graph.nodes[{i}].id", max_length=256)
        check_asset_name(node.step, f"graph.nodes[{i}].step", what="step name")
        if node.id in seen:
            raise ValidationError(
                f"graph.nodes[{i}].id {node.id!r} is given twice", field=f"graph.nodes[{i}].id"
            )
        for up in node.upstream:
            if up not in seen:
                raise ValidationError(
                    f"graph.nodes[{i}] ({node.id!r}) depends on {up!r}, which is not an "
                    "earlier node",
                    field=f"graph.nodes[{i}].upstream",
                )
        seen.add(node.id)


@operations.post("/runs/start", StartPipelineRun, PipelineRunInfo)
def start_pipeline_run(ctx: Context, req: StartPipelineRun) -> PipelineRunInfo:
    """Record a pipeline run that begins, with every node of its graph pending."""
    check_asset_name(req.pipeline, "pipeline", what="pipeline name")
    check_text(req.executor, "executor", max_length=64)
    check_text(req.trigger, "trigger", max_length=256)
    _check_graph(req)
    load_run_row_of_tracking(ctx, req.run_id)  # the tracking run it runs as must exist
    now = now_ms()
    run_id = ctx.conn.execute(
        insert(t.pipeline_runs)
        .values(
            pipeline=req.pipeline,
            ref=req.ref,
            run_id=req.run_id,
            status="running",
            executor=req.executor,
            trigger=req.trigger,
            params_json=dumps(req.params),
            graph_json=req.graph.model_dump_json(),
            outputs_json=None,
            error="",
            created_by=ctx.actor,
            start_time=now,
            end_time=None,
        )
        .returning(t.pipeline_runs.c.id)
    ).scalar_one()
    ctx.conn.execute(
        insert(t.pipeline_steps),
        [
            {
                "pipeline_run_id": run_id,
                "node": node.id,
                "step": node.step,
                "status": "pending",
                "attempts": 0,
                "attempts_json": "[]",
                "cache_key": None,
                "cache_hit": False,
                "start_time": None,
                "end_time": None,
                "log_tail": "",
                "error": "",
            }
            for node in req.graph.nodes
        ],
    )
    return run_info(load_run_row(ctx, run_id))


def _write_steps(ctx: Context, run: int, req: RecordPipelineRun) -> None:
    s = t.pipeline_steps.c
    known = set(ctx.conn.execute(select(s.node).where(s.pipeline_run_id == run)).scalars())
    rows = []
    for i, step in enumerate(req.steps):
        if step.node not in known:
            raise ValidationError(
                f"steps[{i}].node {step.node!r} is not a node of pipeline run {run}",
                field=f"steps[{i}].node",
            )
        rows.append(
            {
                "b_node": step.node,
                "status": step.status,
                "attempts": len(step.attempts),
                "attempts_json": dumps([a.model_dump() for a in step.attempts]),
                "cache_key": step.cache_key,
                "cache_hit": step.cache_hit,
                "start_time": step.start_time,
                "end_time": step.end_time,
                "log_tail": step.log_tail,
                "error": step.error,
            }
        )
    if rows:
        # One executemany: a flush of a hundred steps is one round trip.
        ctx.conn.execute(
            update(t.pipeline_steps)
            .where(s.pipeline_run_id == run, s.node == bindparam("b_node"))
            .values({key: bindparam(key) for key in rows[0] if key != "b_node"}),
            rows,
        )


def _write_cache(ctx: Context, run: int, entries: list[CacheEntry]) -> None:
    if not entries:
        return
    for i, entry in enumerate(entries):
        check_asset_name(entry.step, f"cache[{i}].step", what="step name")
        if (entry.inline is None) == (not entry.path):
            raise ValidationError(
                f"cache[{i}] needs either inline JSON or an artifact path, not both",
                field=f"cache[{i}]",
            )
        if entry.inline is not None and entry.format != "json":
            raise ValidationError(
                f"cache[{i}]: only JSON outputs are stored inline", field=f"cache[{i}].format"
            )
    now = now_ms()
    for entry in entries:
        # The same inputs cached first by another run keep that run's entry.
        insert_ignore(
            ctx.conn,
            t.pipeline_cache,
            {**entry.model_dump(), "pipeline_run_id": run, "created_at": now},
        )


@operations.post("/runs/record", RecordPipelineRun, Empty)
def record_pipeline_run(ctx: Context, req: RecordPipelineRun) -> Empty:
    """Store a batch of step states and cache entries; with ``status``, the run's end."""
    row = load_run_row(ctx, req.id, lock=True)
    if row.status != "running":
        raise ConflictError(f"pipeline run {req.id} already ended ({row.status})", field="id")
    if req.status == "running" and (req.end_time is not None or req.outputs is not None):
        raise ValidationError("a running pipeline run has no end_time or outputs", field="status")
    _write_steps(ctx, req.id, req)
    _write_cache(ctx, req.id, req.cache)
    if req.status is not None and req.status != "running":
        end = req.end_time if req.end_time is not None else now_ms()
        if end < row.start_time:
            raise ValidationError("end_time is before the run's start", field="end_time")
        ctx.conn.execute(
            update(t.pipeline_runs)
            .where(t.pipeline_runs.c.id == req.id)
            .values(
                status=req.status,
                outputs_json=dumps(req.outputs) if req.outputs is not None else None,
                error=req.error,
                end_time=end,
            )
        )
    return Empty()


@operations.post("/cache/lookup", LookupCache, CacheEntries, role="reader")
def lookup_pipeline_cache(ctx: Context, req: LookupCache) -> CacheEntries:
    """The cached outputs stored under any of ``keys``."""
    if not req.keys:
        return CacheEntries(entries=[])
    c = t.pipeline_cache.c
    rows = ctx.conn.execute(select(t.pipeline_cache).where(c.key.in_(set(req.keys))))
    return CacheEntries(
        entries=[
            CacheEntry(
                key=r.key,
                step=r.step,
                format=r.format,
                run_id=r.run_id,
                path=r.path,
                digest=r.digest,
                inline=r.inline,
            )
            for r in rows
        ]
    )
