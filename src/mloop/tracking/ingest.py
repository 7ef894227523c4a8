"""Logging into runs: metrics, params, tags and inputs, and reading metric history."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import and_, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, ValidationError
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_text,
)
from mloop.store.context import Context
from mloop.tracking import tables as t
from mloop.tracking.ops import operations
from mloop.tracking.runs import load_run_row, metric_value, require_active_run
from mloop.tracking.schemas import (
    DeleteTag,
    GetMetricHistory,
    LogBatch,
    LogBatchResult,
    LogInputs,
    MetricHistory,
    MetricPoint,
    SetTag,
)

_MAX_STEP = 2**63 - 1


def _metric_rows(req: LogBatch) -> list[dict[str, Any]]:
    rows = []
    checked: set[str] = set()
    for i, m in enumerate(req.metrics):
        if m.key not in checked:
            check_key(m.key, f"metrics[{i}].key")
            checked.add(m.key)
        if not -_MAX_STEP <= m.step <= _MAX_STEP:
            raise ValidationError(f"metrics[{i}].step is out of range", field=f"metrics[{i}].step")
        if m.timestamp < 0:
            raise ValidationError(
                f"metrics[{i}].timestamp must not be negative", field=f"metrics[{i}].timestamp"
            )
        nan = math.isnan(m.value)
        rows.append(
            {
                "run_id": req.run_id,
                "key": m.key,
                "value": None if nan else m.value,
                "is_nan": nan,
                "step": m.step,
                "timestamp": m.timestamp,
            }
        )
    return rows


def _order(row: dict[str, Any]) -> tuple[int, int, float]:
    # "Latest" is the highest step, then the latest timestamp, then the larger value.
    value = row["value"]
    return (row["step"], row["timestamp"], -math.inf if value is None else value)


def _update_latest(ctx: Context, run_id: str, rows: list[dict[str, Any]]) -> None:
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = newest.get(row["key"])
        if held is None or _order(row) >= _order(held):
            newest[row["key"]] = row
    existing = {
        r.key: r
        for r in ctx.conn.execute(
            select(t.latest_metrics).where(
                t.latest_metrics.c.run_id == run_id, t.latest_metrics.c.key.in_(list(newest))
            )
        )
    }
    inserts = []
    for key, row in newest.items():
        old = existing.get(key)
        if old is None:
            inserts.append(row)
            continue
        old_row = {"step": old.step, "timestamp": old.timestamp, "value": old.value}
        if _order(row) >= _order(old_row):
            ctx.conn.execute(
                update(t.latest_metrics)
                .where(t.latest_metrics.c.run_id == run_id, t.latest_metrics.c.key == key)
                .values(
                    value=row["value"],
                    is_nan=row["is_nan"],
                    step=row["step"],
                    timestamp=row["timestamp"],
                )
            )
    if inserts:
        ctx.conn.execute(insert(t.latest_metrics), inserts)


def _log_params(ctx: Context, run_id: str, req: LogBatch) -> None:
    wanted: dict[str, str] = {}
    for i, p in enumerate(req.params):
        check_key(p.key, f"params[{i}].key")
        check_text(p.value, f"params[{i}].value", max_length=MAX_PARAM_VALUE_LENGTH)
        if p.key in wanted and wanted[p.key] != p.value:
            raise ConflictError(
                f"param {p.key!r} is given twice with different values", field=f"params[{i}]"
            )
        wanted[p.key] = p.value
    if not wanted:
        return
    stored = {
        r.key: r.value
        for r in ctx.conn.execute(
            select(t.params).where(t.params.c.run_id == run_id, t.params.c.key.in_(list(wanted)))
        )
    }
    for key, value in wanted.items():
        if key in stored and stored[key] != value:
            raise ConflictError(
                f"param {key!r} was logged as {stored[key]!r}; params are immutable and cannot "
                f"change to {value!r}. Log a new run, or use a tag or metric for values that change",
                field=f"params.{key}",
            )
    new = [{"run_id": run_id, "key": k, "value": v} for k, v in wanted.items() if k not in stored]
    if new:
        ctx.conn.execute(insert(t.params), new)


def _set_tags(ctx: Context, run_id: str, pairs: list[tuple[str, str]], field: str) -> None:
    latest: dict[str, str] = {}
    for i, (key, value) in enumerate(pairs):
        check_key(key, f"{field}[{i}].key")
        check_text(value, f"{field}[{i}].value", max_length=MAX_TAG_VALUE_LENGTH)
        latest[key] = value
    if not latest:
        return
    ctx.conn.execute(
        delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key.in_(list(latest)))
    )
    ctx.conn.execute(
        insert(t.tags), [{"run_id": run_id, "key": k, "value": v} for k, v in latest.items()]
    )
    if "mloop.runName" in latest:
        ctx.conn.execute(
            update(t.runs).where(t.runs.c.run_id == run_id).values(run_name=latest["mloop.runName"])
        )


def _claim_batch(ctx: Context, batch_id: str, run_id: str) -> bool:
    """Record ``batch_id``; False when it was applied before (a replayed batch)."""
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(t.ingested_batches).values(
                    batch_id=batch_id, run_id=run_id, created_at=now_ms()
                )
            )
    except IntegrityError:
        return False
    return True


@operations.post("/runs/log-batch", LogBatch, LogBatchResult)
def log_batch(ctx: Context, req: LogBatch) -> LogBatchResult:
    """Log metrics, params and tags in one transaction (all or nothing)."""
    require_active_run(ctx, req.run_id)
    if req.batch_id is not None and not _claim_batch(ctx, req.batch_id, req.run_id):
        return LogBatchResult(metrics_stored=0, duplicate_batch=True)
    _log_params(ctx, req.run_id, req)
    _set_tags(ctx, req.run_id, [(g.key, g.value) for g in req.tags], "tags")
    rows = _metric_rows(req)
    if rows:
        ctx.conn.execute(insert(t.metrics), rows)
        _update_latest(ctx, req.run_id, rows)
    return LogBatchResult(metrics_stored=len(rows))


@operations.post("/runs/set-tag", SetTag, Empty)
def set_tag(ctx: Context, req: SetTag) -> Empty:
    """Set (or overwrite) a tag on a run."""
    require_active_run(ctx, req.run_id)
    _set_tags(ctx, req.run_id, [(req.key, req.value)], "tags")
    return Empty()


@operations.post("/runs/delete-tag", DeleteTag, Empty)
def delete_tag(ctx: Context, req: DeleteTag) -> Empty:
    """Remove a tag from a run."""
    require_active_run(ctx, req.run_id)
    result = ctx.conn.execute(
        delete(t.tags).where(t.tags.c.run_id == req.run_id, t.tags.c.key == req.key)
    )
    if result.rowcount == 0:
        from mloop.core.errors import NotFoundError

        raise NotFoundError(f"run {req.run_id} has no tag {req.key!r}", field="key")
    return Empty()


@operations.post("/runs/log-inputs", LogInputs, Empty)
def log_inputs(ctx: Context, req: LogInputs) -> Empty:
    """Record datasets a run used (lineage). Logging the same input twice is a no-op."""
    require_active_run(ctx, req.run_id)
    for i, d in enumerate(req.datasets):
        check_text(d.name, f"datasets[{i}].name", max_length=256)
        if not d.name:
            raise ValidationError("dataset name must not be empty", field=f"datasets[{i}].name")
        check_text(d.digest, f"datasets[{i}].digest", max_length=64)
        check_text(d.context, f"datasets[{i}].context", max_length=64)
        check_text(d.source, f"datasets[{i}].source", max_length=4096)
        check_text(d.source_type, f"datasets[{i}].source_type", max_length=64)
    keys = [(d.name, d.digest, d.context) for d in req.datasets]
    existing = set()
    if keys:
        existing = {
            (r.name, r.digest, r.context)
            for r in ctx.conn.execute(
                select(t.run_inputs.c.name, t.run_inputs.c.digest, t.run_inputs.c.context).where(
                    and_(
                        t.run_inputs.c.run_id == req.run_id,
                        tuple_(t.run_inputs.c.name, t.run_inputs.c.digest, t.run_inputs.c.context).in_(keys),
                    )
                )
            )
        }
    new = []
    for d in req.datasets:
        key = (d.name, d.digest, d.context)
        if key in existing:
            continue
        existing.add(key)
        new.append(
            {
                "run_id": req.run_id,
                "name": d.name,
                "digest": d.digest,
                "context": d.context,
                "source": d.source,
                "source_type": d.source_type,
                "schema_json": d.dataset_schema,
            }
        )
    if new:
        ctx.conn.execute(insert(t.run_inputs), new)
    return Empty()


@operations.get("/metrics/history", GetMetricHistory, MetricHistory)
def get_metric_history(ctx: Context, req: GetMetricHistory) -> MetricHistory:
    """Every value logged for one metric of a run, ordered by step then time."""
    load_run_row(ctx, req.run_id)
    rows = ctx.conn.execute(
        select(t.metrics.c.value, t.metrics.c.is_nan, t.metrics.c.step, t.metrics.c.timestamp)
        .where(t.metrics.c.run_id == req.run_id, t.metrics.c.key == req.key)
        .order_by(t.metrics.c.step, t.metrics.c.timestamp, t.metrics.c.id)
        .limit(req.max_results)
    )
    return MetricHistory(
        metrics=[
            MetricPoint(
                key=req.key, value=metric_value(r.value, r.is_nan), step=r.step, timestamp=r.timestamp
            )
            for r in rows
        ]
    )


def metric_keys(ctx: Context, run_id: str) -> list[str]:
    """The metric keys a run has, sorted."""
    rows = ctx.conn.execute(
        select(t.latest_metrics.c.key).where(t.latest_metrics.c.run_id == run_id).order_by(t.latest_metrics.c.key)
    )
    return [r.key for r in rows]
