"""Runs: create, read, update, delete and search."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import BindParameter, bindparam, insert, select, update

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.ids import ID_PATTERN, new_id
from mloop.core.naming import decode_page_token, encode_page_token
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import (
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_name,
    check_text,
)
from mloop.store.context import Context
from mloop.tracking import tables as t
from mloop.tracking.experiments import ensure_default_experiment, parse_experiment_id
from mloop.tracking.ops import operations
from mloop.tracking.schemas import (
    CreateRun,
    Run,
    RunData,
    RunId,
    RunInfo,
    RunPage,
    SearchRuns,
    UpdateRun,
)
from mloop.tracking.search import build_run_query

TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})
RUN_NAME_TAG = "mloop.runName"
_ADJECTIVES = ("able", "bold", "calm", "deft", "eager", "fair", "glad", "keen", "lucid", "merry")
_NOUNS = ("otter", "heron", "lynx", "finch", "badger", "marten", "osprey", "wren", "stoat", "ibis")


def check_run_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 32 or not value.isalnum():
        raise ValidationError(f"run_id must be a 32-character id, got {value!r}", field="run_id")
    return value


_NEW_RUN_ID = re.compile(ID_PATTERN)


def _chosen_run_id(ctx: Context, value: str) -> str:
    """A run id the caller supplies: 32 lowercase hex characters, not yet taken."""
    if not _NEW_RUN_ID.fullmatch(value):
        raise ValidationError(
            f"run_id must be 32 lowercase hexadecimal characters, got {value!r}", field="run_id"
        )
    if ctx.conn.execute(_RUN_BY_ID, {"run_id": value}).first() is not None:
        raise ConflictError(
            f"run {value} already exists; leave run_id out to get a new id", field="run_id"
        )
    return value


def _generated_name(run_id: str) -> str:
    n = int(run_id[:8], 16)
    return f"{_ADJECTIVES[n % 10]}-{_NOUNS[(n // 10) % 10]}-{n % 1000}"


# Built once: every logging call starts with this lookup, and on SQLite building the
# expression costs more than running it.
_RUN_BY_ID = select(t.runs).where(t.runs.c.run_id == bindparam("run_id"))


def load_run_row(ctx: Context, run_id: str) -> Any:
    row = ctx.conn.execute(_RUN_BY_ID, {"run_id": check_run_id(run_id)}).first()
    if row is None:
        raise NotFoundError(f"run {run_id} does not exist", field="run_id")
    return row


def require_active_run(ctx: Context, run_id: str) -> Any:
    """The run's row, refusing deleted runs (their data must not change)."""
    row = load_run_row(ctx, run_id)
    if row.lifecycle_stage != "active":
        # "The run ... must be in the 'active' state" is MLflow's wording, which clients match.
        raise ValidationError(
            f"The run {run_id} must be in the 'active' state; it is deleted: restore it "
            "before logging to it",
            field="run_id",
        )
    return row


def _info_fields(row: Any) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "run_name": row.run_name,
        "experiment_id": str(row.experiment_id),
        "status": row.status,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "lifecycle_stage": row.lifecycle_stage,
        "artifact_uri": row.artifact_uri,
        "user_id": row.user_id,
        "parent_run_id": row.parent_run_id,
    }


def _info(row: Any) -> RunInfo:
    return RunInfo.model_validate(_info_fields(row))


def metric_value(value: float | None, is_nan: bool) -> float:
    return math.nan if is_nan or value is None else float(value)


@dataclass
class RunParts:
    """A batch of runs as fetched, before they become :class:`Run` messages: lets the MLflow
    layer write its JSON straight from the rows (search answers hold hundreds of runs)."""

    rows: dict[str, Any]
    params: dict[str, dict[str, str]]
    tags: dict[str, dict[str, str]]
    # (key, value, step, timestamp) of each latest metric value, by run
    metrics: dict[str, list[tuple[str, float, int, int]]]
    inputs: dict[str, list[dict[str, Any]]]

    def info(self, run_id: str) -> dict[str, Any]:
        return _info_fields(self.rows[run_id])


def fetch_run_parts(ctx: Context, run_ids: list[str]) -> RunParts:
    """Info, params, tags, latest metrics and inputs of the runs, in four queries."""
    ids = {"ids": run_ids}
    rows = {r.run_id: r for r in ctx.conn.execute(_RUNS_IN, ids).all()} if run_ids else {}
    parts = RunParts(
        rows=rows,
        params={rid: {} for rid in rows},
        tags={rid: {} for rid in rows},
        metrics={rid: [] for rid in rows},
        inputs={rid: [] for rid in rows},
    )
    if not rows:
        return parts
    for run_id, key, value in ctx.conn.execute(_PARAMS_IN, ids).all():
        parts.params[run_id][key] = value
    for run_id, key, value in ctx.conn.execute(_TAGS_IN, ids).all():
        parts.tags[run_id][key] = value
    for run_id, key, value, is_nan, step, timestamp in ctx.conn.execute(_METRICS_IN, ids).all():
        parts.metrics[run_id].append((key, metric_value(value, is_nan), step, timestamp))
    for d in ctx.conn.execute(_INPUTS_IN, ids).all():
        parts.inputs[d.run_id].append(
            {
                "name": d.name,
                "digest": d.digest,
                "source": d.source,
                "source_type": d.source_type,
                "context": d.context,
                "dataset_schema": d.schema_json,
                "profile": d.profile,
                "tags": _input_tags(d.tags_json, d.context),
            }
        )
    return parts


def _input_tags(stored: str | None, context: str) -> dict[str, str]:
    """An input's tags in the order logged (rows from before they were kept: the context)."""
    if not stored:
        return {"mlflow.data.context": context}
    return dict((str(k), str(v)) for k, v in json.loads(stored))


def load_runs(ctx: Context, run_ids: list[str]) -> list[Run]:
    """Full runs (info, params, latest metrics, tags, inputs) in the order of ``run_ids``."""
    if not run_ids:
        return []
    parts = fetch_run_parts(ctx, run_ids)
    # One validation of the whole list runs in pydantic's compiled core: faster than
    # constructing each nested model from Python.
    return _RUN_LIST.validate_python(
        [
            {
                "info": parts.info(rid),
                "data": {
                    "params": parts.params[rid],
                    "metrics": {key: value for key, value, _, _ in parts.metrics[rid]},
                    "tags": parts.tags[rid],
                },
                "inputs": parts.inputs[rid],
            }
            for rid in run_ids
            if rid in parts.rows
        ]
    )


_RUN_LIST = TypeAdapter(list[Run])
_EXPERIMENT_STATE = select(
    t.experiments.c.artifact_location, t.experiments.c.lifecycle_stage
).where(t.experiments.c.experiment_id == bindparam("experiment_id"))
_INSERT_RUN = insert(t.runs)
_SET_STATUS = (
    update(t.runs)
    .where(t.runs.c.run_id == bindparam("rid"))
    .values(status=bindparam("status"), end_time=bindparam("end_time"))
)
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_RUNS_IN = select(t.runs).where(t.runs.c.run_id.in_(_IDS))
_PARAMS_IN = select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
    t.params.c.run_id.in_(_IDS)
)
_TAGS_IN = select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id.in_(_IDS))
_METRICS_IN = select(
    t.latest_metrics.c.run_id,
    t.latest_metrics.c.key,
    t.latest_metrics.c.value,
    t.latest_metrics.c.is_nan,
    t.latest_metrics.c.step,
    t.latest_metrics.c.timestamp,
).where(t.latest_metrics.c.run_id.in_(_IDS))
_INPUTS_IN = select(t.run_inputs).where(t.run_inputs.c.run_id.in_(_IDS))


def runs_with_input(
    ctx: Context, digest: str, *, name: str | None = None, max_results: int = 1000
) -> list[str]:
    """Ids of the live runs that logged an input with this digest (and this name, if
    given), most recently started first: the lineage of "which runs read this data"."""
    query = (
        select(t.run_inputs.c.run_id)
        .join(t.runs, t.runs.c.run_id == t.run_inputs.c.run_id)
        .where(t.run_inputs.c.digest == digest, t.runs.c.lifecycle_stage == "active")
        .group_by(t.run_inputs.c.run_id, t.runs.c.start_time)
        .order_by(t.runs.c.start_time.desc(), t.run_inputs.c.run_id)
        .limit(max_results)
    )
    if name is not None:
        query = query.where(t.run_inputs.c.name == name)
    return [r[0] for r in ctx.conn.execute(query)]


@operations.post("/runs/create", CreateRun, Run, quick=True)
def create_run(ctx: Context, req: CreateRun) -> Run:
    """Start a run in an experiment (the Default experiment when none is given)."""
    if req.experiment_id is None:
        experiment_id = ensure_default_experiment(ctx)
    else:
        experiment_id = parse_experiment_id(req.experiment_id)
    experiment = ctx.conn.execute(_EXPERIMENT_STATE, {"experiment_id": experiment_id}).first()
    if experiment is None:
        raise NotFoundError(f"experiment {experiment_id} does not exist", field="experiment_id")
    if experiment.lifecycle_stage != "active":
        raise ValidationError(
            f"experiment {experiment_id} is deleted; restore it to add runs", field="experiment_id"
        )
    if req.parent_run_id is not None:
        load_run_row(ctx, req.parent_run_id)
    for key, value in req.tags.items():
        check_key(key, "tags")
        check_text(value, f"tags.{key}", max_length=MAX_TAG_VALUE_LENGTH)
    run_id = new_id() if req.run_id is None else _chosen_run_id(ctx, req.run_id)
    run_name = check_name(req.run_name, "run_name") if req.run_name else _generated_name(run_id)
    start = req.start_time if req.start_time is not None else now_ms()
    if start < 0:
        raise ValidationError("start_time must not be negative", field="start_time")
    user_id = check_text(req.user_id or ctx.actor, "user_id", max_length=256)
    row_artifact_uri = f"{experiment.artifact_location}/{run_id}/artifacts"
    ctx.conn.execute(
        _INSERT_RUN,
        {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "run_name": run_name,
            "status": "RUNNING",
            "start_time": start,
            "end_time": None,
            "lifecycle_stage": "active",
            "parent_run_id": req.parent_run_id,
            "user_id": user_id,
            "artifact_uri": row_artifact_uri,
        },
    )
    tags = dict(req.tags)
    if req.parent_run_id:
        tags.setdefault("mloop.parentRunId", req.parent_run_id)
    if tags:
        ctx.conn.execute(
            insert(t.tags), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        )
    # Built from what was just written: a new run has nothing else to load.
    info = RunInfo(
        run_id=run_id,
        run_name=run_name,
        experiment_id=str(experiment_id),
        status="RUNNING",
        start_time=start,
        lifecycle_stage="active",
        artifact_uri=row_artifact_uri,
        user_id=user_id,
        parent_run_id=req.parent_run_id,
    )
    return Run(info=info, data=RunData(tags=tags))


@operations.get("/runs/get", RunId, Run)
def get_run(ctx: Context, req: RunId) -> Run:
    """Get a run with its params, latest metrics, tags and inputs."""
    load_run_row(ctx, req.run_id)
    return load_runs(ctx, [req.run_id])[0]


def apply_update(ctx: Context, req: UpdateRun, row: Any = None) -> RunInfo:
    """Change a run's status, end time or name. A terminal status sets the end time.

    ``row`` is the run's row when the caller has already loaded it.
    """
    row = row if row is not None else require_active_run(ctx, req.run_id)
    values: dict[str, Any] = {}
    if req.run_name is not None:
        values["run_name"] = check_name(req.run_name, "run_name")
    if req.status is not None:
        values["status"] = req.status
        if req.status in TERMINAL_STATUSES:
            values["end_time"] = req.end_time if req.end_time is not None else now_ms()
        else:
            values["end_time"] = None
    elif req.end_time is not None:
        values["end_time"] = req.end_time
    end = values.get("end_time")
    if end is not None and end < row.start_time:
        raise ValidationError("end_time must not be before the run's start_time", field="end_time")
    if set(values) == {"status", "end_time"}:  # ending or resuming: the common case
        ctx.conn.execute(_SET_STATUS, {"rid": req.run_id, **values})
    elif values:
        ctx.conn.execute(update(t.runs).where(t.runs.c.run_id == req.run_id).values(**values))
    return _info(row).model_copy(update=values)


@operations.post("/runs/update", UpdateRun, RunInfo, quick=True)
def update_run(ctx: Context, req: UpdateRun) -> RunInfo:
    """Change a run's status, end time or name. A terminal status sets the end time."""
    return apply_update(ctx, req)


def _set_lifecycle(ctx: Context, run_id: str, stage: str) -> None:
    load_run_row(ctx, run_id)
    ctx.conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(lifecycle_stage=stage))


@operations.post("/runs/delete", RunId, Empty)
def delete_run(ctx: Context, req: RunId) -> Empty:
    """Mark a run deleted (its data is kept and it can be restored)."""
    _set_lifecycle(ctx, req.run_id, "deleted")
    return Empty()


@operations.post("/runs/restore", RunId, Empty)
def restore_run(ctx: Context, req: RunId) -> Empty:
    """Restore a deleted run."""
    _set_lifecycle(ctx, req.run_id, "active")
    return Empty()


@operations.post("/runs/search", SearchRuns, RunPage, role="reader")
def search_runs(ctx: Context, req: SearchRuns) -> RunPage:
    """Search runs with the filter language, ordered and paginated."""
    ids, token = search_run_ids(ctx, req)
    return RunPage(runs=load_runs(ctx, ids), next_page_token=token)


def search_run_ids(ctx: Context, req: SearchRuns) -> tuple[list[str], str | None]:
    """The ids of one page of a search, and the token of the next page (None at the end)."""
    if req.experiment_ids:
        experiment_ids = []
        for given in req.experiment_ids:
            try:
                experiment_ids.append(parse_experiment_id(given, "experiment_ids"))
            except NotFoundError:
                continue  # an id that cannot exist matches no run, as an unknown one
    else:
        experiment_ids = [
            int(r.experiment_id)
            for r in ctx.conn.execute(
                select(t.experiments.c.experiment_id).where(
                    t.experiments.c.lifecycle_stage == "active"
                )
            )
        ]
    offset = decode_page_token(req.page_token)
    query = build_run_query(
        experiment_ids=experiment_ids,
        filter_string=req.filter,
        order_by=req.order_by,
        lifecycle=req.view,
    )
    ids = [r[0] for r in ctx.conn.execute(query.limit(req.max_results + 1).offset(offset))]
    token = encode_page_token(offset + req.max_results) if len(ids) > req.max_results else None
    return ids[: req.max_results], token
