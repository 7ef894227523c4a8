"""Logging into runs: metrics, params, tags and inputs, and reading metric history."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, insert, select, tuple_, update

from mloop.core.errors import ConflictError, ValidationError
from mloop.core.naming import decode_page_token, encode_page_token
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_no_nul,
    check_text,
)
from mloop.store.context import Context
from mloop.store.sql import insert_ignore
from mloop.tracking import tables as t
from mloop.tracking.ops import operations
from mloop.tracking.runs import apply_update, load_run_row, require_active_run
from mloop.tracking.schemas import (
    MAX_BATCH_METRICS,
    DeleteTag,
    GetMetricHistory,
    LogBatch,
    LogBatchResult,
    LogInputs,
    MetricHistory,
    MetricPoint,
    SetTag,
    UpdateRun,
)

if TYPE_CHECKING:
    from mloop.tracking.metric_codec import KeySeries

# The most values one page of a metric history holds (a module value so tests can lower it).
MAX_HISTORY_PAGE = 100_000

# Built once (see runs._RUN_BY_ID); the key lists expand at execution time.
_PARAMS_BY_KEY = select(t.params.c.key, t.params.c.value).where(
    t.params.c.run_id == bindparam("run_id"),
    t.params.c.key.in_(bindparam("keys", expanding=True)),
)
_LATEST_BY_KEY = select(t.latest_metrics).where(
    t.latest_metrics.c.run_id == bindparam("run_id"),
    t.latest_metrics.c.key.in_(bindparam("keys", expanding=True)),
)


def _columns(req: LogBatch) -> tuple[list[str], list[float], list[int], list[int]]:
    """Both wire forms of a batch's metrics as parallel columns."""
    keys = [m.key for m in req.metrics]
    values = [m.value for m in req.metrics]
    steps = [m.step for m in req.metrics]
    stamps = [m.timestamp for m in req.metrics]
    cols = req.metric_columns
    if cols is not None:
        lengths = {len(cols.keys), len(cols.values), len(cols.steps), len(cols.timestamps)}
        if len(lengths) != 1:
            raise ValidationError(
                "metric_columns.keys, values, steps and timestamps must have the same length",
                field="metric_columns",
            )
        keys += cols.keys
        values += cols.values
        steps += cols.steps
        stamps += cols.timestamps
    if len(keys) > MAX_BATCH_METRICS:
        raise ValidationError(
            f"a batch may hold at most {MAX_BATCH_METRICS} metric values", field="metrics"
        )
    return keys, values, steps, stamps


def _field(req: LogBatch, i: int, attr: str) -> str:
    """The request field of the i-th metric value, whichever wire form it came in."""
    if i < len(req.metrics):
        return f"metrics[{i}].{attr}"
    return f"metric_columns.{attr}s[{i - len(req.metrics)}]"


def _metric_series(req: LogBatch) -> list[KeySeries]:
    keys, values, steps, stamps = _columns(req)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in first:
            first[key] = i
            check_key(key, _field(req, i, "key"))
    try:
        # NumPy loads with the first metric, not with every CLI command that reads runs.
        from mloop.tracking.metric_codec import group_by_key

        series = group_by_key(keys, values, steps, stamps)
    except OverflowError as exc:
        raise ValidationError(
            "a step or timestamp does not fit in 64 bits", field=_field(req, 0, "step")
        ) from exc
    for one in series:
        if one.timestamps.size and int(one.timestamps.min()) < 0:
            raise ValidationError(
                f"timestamps must not be negative (key {one.key!r})",
                field=_field(req, first[one.key], "timestamp"),
            )
    return series


def _update_latest(ctx: Context, run_id: str, series: list[KeySeries]) -> None:
    newest = {}
    for one in series:
        i = one.latest_index()
        value = float(one.values[i])
        newest[one.key] = {
            "run_id": run_id,
            "key": one.key,
            "value": None if math.isnan(value) else value,
            "is_nan": math.isnan(value),
            "step": int(one.steps[i]),
            "timestamp": int(one.timestamps[i]),
        }
    existing = {
        r.key: r for r in ctx.conn.execute(_LATEST_BY_KEY, {"run_id": run_id, "keys": list(newest)})
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


def _order(row: dict[str, Any]) -> tuple[int, int, float]:
    # "Latest" is the highest step, then the latest timestamp, then the larger value.
    value = row["value"]
    return (row["step"], row["timestamp"], -math.inf if value is None else value)


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
        for r in ctx.conn.execute(_PARAMS_BY_KEY, {"run_id": run_id, "keys": list(wanted)})
    }
    for key, value in wanted.items():
        if key in stored and stored[key] != value:
            raise ConflictError(
                f"param {key!r} was logged as {stored[key]!r}; params are immutable and cannot "
                f"change to {value!r}. Log a new run, or use a tag or metric for changing values",
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
    return insert_ignore(
        ctx.conn,
        t.ingested_batches,
        {"batch_id": batch_id, "run_id": run_id, "created_at": now_ms()},
    )


@operations.post("/runs/log-batch", LogBatch, LogBatchResult, quick=True)
def log_batch(ctx: Context, req: LogBatch) -> LogBatchResult:
    """Log metrics, params and tags in one transaction (all or nothing); optionally end the run."""
    row = require_active_run(ctx, req.run_id)
    if req.batch_id is not None and not _claim_batch(ctx, req.batch_id, req.run_id):
        return LogBatchResult(metrics_stored=0, duplicate_batch=True)
    _log_params(ctx, req.run_id, req)
    _set_tags(ctx, req.run_id, [(g.key, g.value) for g in req.tags], "tags")
    series = _metric_series(req)
    if series:
        from mloop.tracking import metric_codec

        ctx.conn.execute(
            insert(t.metric_chunks),
            [{"run_id": req.run_id, **metric_codec.encode(one)} for one in series],
        )
        _update_latest(ctx, req.run_id, series)
    if req.end_status is not None:
        update = UpdateRun(run_id=req.run_id, status=req.end_status, end_time=req.end_time)
        apply_update(ctx, update, row)
    return LogBatchResult(metrics_stored=sum(int(one.values.size) for one in series))


@operations.post("/runs/set-tag", SetTag, Empty, quick=True)
def set_tag(ctx: Context, req: SetTag) -> Empty:
    """Set (or overwrite) a tag on a run."""
    require_active_run(ctx, req.run_id)
    _set_tags(ctx, req.run_id, [(req.key, req.value)], "tags")
    return Empty()


@operations.post("/runs/delete-tag", DeleteTag, Empty)
def delete_tag(ctx: Context, req: DeleteTag) -> Empty:
    """Remove a tag from a run."""
    require_active_run(ctx, req.run_id)
    check_key(req.key, "key")  # a key no tag can have is a 400, not a database error
    result = ctx.conn.execute(
        delete(t.tags).where(t.tags.c.run_id == req.run_id, t.tags.c.key == req.key)
    )
    if result.rowcount == 0:
        from mloop.core.errors import NotFoundError

        raise NotFoundError(f"No tag with name: {req.key} in run with id {req.run_id}", field="key")
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
        if d.dataset_schema is not None:
            check_no_nul(d.dataset_schema, f"datasets[{i}].dataset_schema")
        if d.profile is not None:
            check_no_nul(d.profile, f"datasets[{i}].profile")
        for tag_key, tag_value in d.tags.items():
            check_key(tag_key, f"datasets[{i}].tags")
            check_text(tag_value, f"datasets[{i}].tags.{tag_key}", max_length=MAX_TAG_VALUE_LENGTH)
    keys = [(d.name, d.digest, d.context) for d in req.datasets]
    existing = set()
    if keys:
        existing = {
            (r.name, r.digest, r.context)
            for r in ctx.conn.execute(
                select(t.run_inputs.c.name, t.run_inputs.c.digest, t.run_inputs.c.context).where(
                    and_(
                        t.run_inputs.c.run_id == req.run_id,
                        tuple_(
                            t.run_inputs.c.name, t.run_inputs.c.digest, t.run_inputs.c.context
                        ).in_(keys),
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
                "profile": d.profile,
                "tags_json": json.dumps(list(d.tags.items())) if d.tags else None,
            }
        )
    if new:
        ctx.conn.execute(insert(t.run_inputs), new)
    return Empty()


@operations.get("/metrics/history", GetMetricHistory, MetricHistory)
def get_metric_history(ctx: Context, req: GetMetricHistory) -> MetricHistory:
    """One page of the values logged for a metric of a run, ordered by step then time.

    A page holds at most ``MAX_HISTORY_PAGE`` values; ``next_page_token`` is set whenever
    more follow, so a long history is never returned cut short as if it were whole.
    """
    limit = min(req.max_results or MAX_HISTORY_PAGE, MAX_HISTORY_PAGE)
    offset = decode_page_token(req.page_token)
    load_run_row(ctx, req.run_id)
    check_key(req.key, "key")  # a key no metric can have is a 400, not a database error
    chunks = ctx.conn.execute(
        select(
            t.metric_chunks.c.step_data,
            t.metric_chunks.c.timestamp_data,
            t.metric_chunks.c.value_data,
        )
        .where(t.metric_chunks.c.run_id == req.run_id, t.metric_chunks.c.key == req.key)
        .order_by(t.metric_chunks.c.id)
    )
    from mloop.tracking import metric_codec

    steps, stamps, values = metric_codec.decode(
        [(c.step_data, c.timestamp_data, c.value_data) for c in chunks]
    )
    end = min(offset + limit, steps.size)
    page = slice(offset, end)
    return MetricHistory(
        metrics=[
            MetricPoint(key=req.key, value=v, step=st, timestamp=ts)
            for st, ts, v in zip(
                steps[page].tolist(), stamps[page].tolist(), values[page].tolist(), strict=True
            )
        ],
        next_page_token=encode_page_token(end) if end < steps.size else None,
    )


def metric_keys(ctx: Context, run_id: str) -> list[str]:
    """The metric keys a run has, sorted."""
    rows = ctx.conn.execute(
        select(t.latest_metrics.c.key)
        .where(t.latest_metrics.c.run_id == run_id)
        .order_by(t.latest_metrics.c.key)
    )
    return [r.key for r in rows]
