"""MLflow 3's logged-models endpoints (``/api/2.0/mlflow/logged-models``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads the model directory to the
location it is given, then marks the model ready. Two layouts:

- A model logged inside an active run of its experiment gets ``<run>/artifacts/<name>``, so
  it is also an ordinary run artifact: ``runs:/<run_id>/<name>`` resolves to it for the
  registry, the SDK and the UI, as for models logged with ``mloop.sklearn.log_model``.
- A model of its own (``mlflow.initialize_logged_model``, ``create_external_model``,
  ``log_model`` outside a run) gets ``<experiment artifact root>/models/<model_id>/artifacts``;
  the artifact proxy accepts uploads there while the model is pending or ready.

A model whose ``source_run_id`` names no usable run (unknown, deleted, another experiment,
or the name is taken in that run) gets the second layout and keeps the id it was given,
as MLflow, which does not check the run.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from mloop.compat.mlflow import tables as t
from mloop.compat.mlflow.http import (
    Endpoint,
    integer,
    objects,
    pairs,
    strings,
    text,
    unquote,
)
from mloop.compat.mlflow.run_models import record_model_outputs
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.ids import new_id
from mloop.core.timeutil import now_ms
from mloop.store.context import Context
from mloop.tracking import experiments
from mloop.tracking import schemas as s
from mloop.tracking.runs import load_run_row
from mloop.tracking.search_sql import case_sensitive_like

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
# Protobuf's enum numbers, which a client may send instead of the names.
_STATUS_NUMBERS = {"1": STATUSES[0], "2": STATUSES[1], "3": STATUSES[2]}
MAX_PARAMS = 1000
MAX_TAGS = 1000
MAX_KEY_LENGTH = 250
MAX_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256
MAX_RESULTS_DEFAULT = 100
MAX_RESULTS_LIMIT = 1000
MAX_FILTER_LENGTH = 4000
MAX_ORDER_BY = 10
_INT32_MAX = 2**31 - 1
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
# MLflow refuses these in a logged model's name: it becomes part of URIs and paths.
_NAME_BAD_CHARS = ("/", ":", ".", "%", '"', "'")
MODELS_FOLDER = "models"


def _experiment_id(ctx: Context, value: str | None) -> str:
    if value in (None, "", "0"):
        return str(experiments.ensure_default_experiment(ctx))
    return value


def _not_found(model_id: str) -> NotFoundError:
    return NotFoundError(f"Logged model with ID '{model_id}' not found.", field="model_id")


def _model_id(body: dict[str, Any], label: str = "model_id") -> str:
    """The model id of a request; one no model can have is not found (as in MLflow)."""
    model_id = text(body, "model_id", label=label) or ""
    if not _MODEL_ID.match(model_id):
        raise _not_found(model_id)
    return model_id


def load_logged_model(ctx: Context, model_id: str, *, allow_deleted: bool = False) -> Any:
    """The logged model's row; deleted ones only with ``allow_deleted``."""
    if not _MODEL_ID.match(model_id):
        raise _not_found(model_id)
    row = ctx.conn.execute(
        select(t.logged_models).where(t.logged_models.c.model_id == model_id)
    ).first()
    if row is None or (row.lifecycle_stage == "deleted" and not allow_deleted):
        raise _not_found(model_id)
    return row


def logged_model_source(ctx: Context, model_id: str) -> str:
    """``runs:/<run_id>/<name>`` for ``models:/<model_id>`` of a model logged in a run.

    The registry copies such a source as any run artifact. A model of its own has no run
    URI: this raises ValidationError for it; use :func:`logged_model_files` instead, which
    serves both layouts. The model must be ready (its upload finished).
    """
    row = load_logged_model(ctx, model_id)
    if row.status != "LOGGED_MODEL_READY":
        raise ValidationError(
            f"logged model {model_id} is {row.status}, not ready: its upload did not finish",
            field="source",
        )
    if not _in_run_layout(ctx, row):
        raise ValidationError(
            f"logged model {model_id} was not logged inside a run; copy its files from "
            "logged_model_files()",
            field="source",
        )
    return f"runs:/{row.run_id}/{row.name}"


def logged_model_files(ctx: Context, model_id: str) -> str:
    """The artifact-store path of a logged model's files (the folder its MLmodel is in).

    Both layouts: ``<run artifact root>/<name>`` for a model logged in a run,
    ``<experiment artifact root>/models/<model_id>/artifacts`` for a model of its own.
    Refuses unknown and deleted models (NotFoundError) but not pending or external ones:
    the folder may be empty or partial, and whoever loads it reports that.
    """
    return str(load_logged_model(ctx, model_id).storage_path)


def upload_root(ctx: Context, model_id: str) -> str:
    """The storage path a logged model of its own accepts uploads under.

    Only an existing, non-deleted model, pending or ready, and only in its own layout
    (a run's model is uploaded through the run's artifacts).
    """
    row = load_logged_model(ctx, model_id)
    if _in_run_layout(ctx, row):
        raise ValidationError(
            f"logged model {model_id} keeps its files in run {row.run_id}'s artifacts",
            field="path",
        )
    if row.status not in STATUSES[:2]:
        raise ValidationError(
            f"logged model {model_id} is {row.status}; it accepts no more files", field="path"
        )
    return str(row.storage_path)


def _own_root(model_id: str, experiment_root: str) -> str:
    return f"{experiment_root}/{MODELS_FOLDER}/{model_id}/artifacts"


def _in_run_layout(ctx: Context, row: Any) -> bool:
    """Whether the model's files sit in its run's artifacts (rather than a root of its own)."""
    return not row.storage_path.endswith(f"/{MODELS_FOLDER}/{row.model_id}/artifacts")


def _key(key: str, what: str, field: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{what} keys must be 1 to {MAX_KEY_LENGTH} characters, got {key[:40]!r}",
            field=field,
        )
    if "\x00" in key:
        raise ValidationError(f"{what} key {key[:40]!r} contains NUL", field=field)
    return key


def _bounded(pairs_: list[tuple[str, str]], what: str, limit: int) -> dict[str, str]:
    if len(pairs_) > limit:
        raise ValidationError(f"at most {limit} {what} per request, got {len(pairs_)}", field=what)
    for key, value in pairs_:
        _key(key, what, what)
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationError(
                f"{what} {key!r} is {len(value)} characters; the limit is {MAX_VALUE_LENGTH}",
                field=what,
            )
        if "\x00" in value:
            raise ValidationError(f"{what} {key!r} contains NUL", field=what)
    return dict(pairs_)


def _metric_value(value: float | None, is_nan: bool) -> float | str:
    if is_nan or value is None:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _answers(ctx: Context, rows: list[Any]) -> list[dict[str, Any]]:
    """MLflow's LoggedModel JSON for each row, with tags, params and metrics in 3 queries."""
    ids = [r.model_id for r in rows]
    tags: dict[str, list[dict[str, str]]] = defaultdict(list)
    params: dict[str, list[dict[str, str]]] = defaultdict(list)
    metrics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for table, into in ((t.logged_model_tags, tags), (t.logged_model_params, params)):
            found = select(table).where(table.c.model_id.in_(ids)).order_by(table.c.key)
            for r in ctx.conn.execute(found):
                into[r.model_id].append({"key": r.key, "value": r.value})
        m = t.logged_model_metrics
        found = select(m).where(m.c.model_id.in_(ids)).order_by(m.c.key, m.c.id)
        for r in ctx.conn.execute(found):
            metric: dict[str, Any] = {
                "key": r.key,
                "value": _metric_value(r.value, r.is_nan),
                "timestamp": r.timestamp,
                "step": r.step,
                "model_id": r.model_id,
            }
            for name in ("run_id", "dataset_name", "dataset_digest"):
                if getattr(r, name) is not None:
                    metric[name] = getattr(r, name)
            metrics[r.model_id].append(metric)
    answers = [
        {
            "info": {
                "model_id": row.model_id,
                "experiment_id": row.experiment_id,
                "name": row.name,
                "creation_timestamp_ms": row.creation_time,
                "last_updated_timestamp_ms": row.last_update_time,
                "artifact_uri": f"mlflow-artifacts:/{row.storage_path}",
                "status": row.status,
                "model_type": row.model_type,
                "status_message": row.status_message,
                "tags": tags[row.model_id],
            },
            "data": {"params": params[row.model_id], "metrics": metrics[row.model_id]},
        }
        for row in rows
    ]
    # MLflow leaves source_run_id out of a run-less model's JSON.
    for row, answer in zip(rows, answers, strict=True):
        if row.run_id is not None:
            answer["info"]["source_run_id"] = row.run_id
    return answers


def _model_answer(ctx: Context, model_id: str) -> dict[str, Any]:
    return {"model": _answers(ctx, [load_logged_model(ctx, model_id, allow_deleted=True)])[0]}


def _touch(ctx: Context, model_id: str, **values: Any) -> None:
    ctx.conn.execute(
        update(t.logged_models)
        .where(t.logged_models.c.model_id == model_id)
        .values(last_update_time=now_ms(), **values)
    )


def _set_pairs(ctx: Context, table: Any, model_id: str, values: dict[str, str]) -> None:
    """Insert or replace ``key -> value`` rows of a model's tags or params."""
    if not values:
        return
    ctx.conn.execute(
        delete(table).where(table.c.model_id == model_id, table.c.key.in_(list(values)))
    )
    ctx.conn.execute(
        insert(table), [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()]
    )


def _check_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or any(c in name for c in _NAME_BAD_CHARS) or "\x00" in name:
        raise ValidationError(
            f"Invalid model name ({name[:300]!r}) provided. Model name must be a non-empty "
            f"string of at most {MAX_NAME_LENGTH} characters and cannot contain any of "
            f"{''.join(_NAME_BAD_CHARS)}",
            field="name",
        )
    return name


def _run_storage(ctx: Context, run_id: str | None, experiment_id: str, name: str) -> str | None:
    """``<run artifact root>/<name>`` when the run can hold the model, else None."""
    if run_id is None or not _RUN_ID.match(run_id):
        return None
    try:
        run = load_run_row(ctx, run_id)
    except NotFoundError:
        return None
    if run.lifecycle_stage != "active" or str(run.experiment_id) != experiment_id:
        return None
    storage_path = f"{run.artifact_uri}/{name}"
    taken = ctx.conn.execute(
        select(t.logged_models.c.model_id).where(
            t.logged_models.c.run_id == run_id, t.logged_models.c.name == name
        )
    ).first()
    if taken is not None or ctx.artifacts.exists(storage_path):
        return None
    return storage_path


def create_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    # The whole request is checked before anything is looked up: a malformed one is a 400.
    tags = _bounded(pairs(body, "tags"), "tags", MAX_TAGS)
    params = _bounded(pairs(body, "params"), "params", MAX_PARAMS)
    model_type = text(body, "model_type", required=False) or ""
    if len(model_type) > 256:
        raise ValidationError("model_type is longer than 256 characters", field="model_type")
    run_id = text(body, "source_run_id", required=False)
    if run_id is not None and (len(run_id) > 32 or "\x00" in run_id):
        raise ValidationError(
            f"source_run_id {run_id[:40]!r} is not a run id", field="source_run_id"
        )
    raw_name = text(body, "name", required=False)
    experiment_id = _experiment_id(ctx, text(body, "experiment_id", required=False))
    experiment = experiments.get_experiment(ctx, s.ExperimentId(experiment_id=experiment_id))
    if experiment.lifecycle_stage != "active":
        raise ValidationError(
            f"experiment {experiment_id} is deleted; restore it first", field="experiment_id"
        )
    model_id = "m-" + new_id()
    name = _check_name(raw_name) if raw_name is not None else f"model-{model_id[2:10]}"
    storage_path = _run_storage(ctx, run_id, experiment_id, name) or _own_root(
        model_id, experiment.artifact_location
    )
    now = now_ms()
    ctx.conn.execute(
        insert(t.logged_models).values(
            model_id=model_id,
            experiment_id=experiment_id,
            run_id=run_id,
            name=name,
            storage_path=storage_path,
            model_type=model_type,
            status="LOGGED_MODEL_PENDING",
            status_message="",
            lifecycle_stage="active",
            user_id=ctx.actor[:256],
            creation_time=now,
            last_update_time=now,
        )
    )
    _set_pairs(ctx, t.logged_model_tags, model_id, tags)
    _set_pairs(ctx, t.logged_model_params, model_id, params)
    return _model_answer(ctx, model_id)


def get_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    allow_deleted = str(body.get("allow_deleted", "")).lower() == "true"
    load_logged_model(ctx, model_id, allow_deleted=allow_deleted)
    return _model_answer(ctx, model_id)


def finalize_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    raw = body.get("status")
    given = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    status = _STATUS_NUMBERS.get(given or "", given)
    if status not in STATUSES[1:]:
        raise ValidationError(
            f"status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, got {raw!r}",
            field="status",
        )
    load_logged_model(ctx, model_id)
    _touch(ctx, model_id, status=status)
    return _model_answer(ctx, model_id)


def delete_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Mark the model deleted; its files stay where they are, like other run artifacts."""
    model_id = _model_id(body)
    load_logged_model(ctx, model_id)
    _touch(ctx, model_id, lifecycle_stage="deleted")
    return {}


def _count(ctx: Context, table: Any, model_id: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.model_id == model_id)
    return int(ctx.conn.execute(query).scalar_one())


def set_logged_model_tags(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    new_tags = _bounded(pairs(body, "tags"), "tags", MAX_TAGS)
    load_logged_model(ctx, model_id)
    _set_pairs(ctx, t.logged_model_tags, model_id, new_tags)
    if _count(ctx, t.logged_model_tags, model_id) > MAX_TAGS:
        raise ValidationError(f"a logged model holds at most {MAX_TAGS} tags", field="tags")
    _touch(ctx, model_id)
    return {}


def delete_logged_model_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    key = text(body, "tag_key") or ""
    load_logged_model(ctx, model_id)
    gone = ctx.conn.execute(
        delete(t.logged_model_tags).where(
            t.logged_model_tags.c.model_id == model_id, t.logged_model_tags.c.key == key
        )
    )
    if gone.rowcount == 0:
        raise NotFoundError(
            f"No tag with key {key!r} found for model with ID {model_id!r}.", field="tag_key"
        )
    _touch(ctx, model_id)
    return {}


def log_logged_model_params(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    new_params = _bounded(pairs(body, "params"), "params", MAX_PARAMS)
    load_logged_model(ctx, model_id)
    p = t.logged_model_params
    existing = dict(
        ctx.conn.execute(
            select(p.c.key, p.c.value).where(
                p.c.model_id == model_id, p.c.key.in_(list(new_params))
            )
        ).all()
    )
    for key, value in new_params.items():
        if existing.get(key, value) != value:
            raise ValidationError(
                f"param {key!r} of logged model {model_id} is already {existing[key]!r}; "
                "params cannot change",
                field="params",
            )
    _set_pairs(ctx, p, model_id, {k: v for k, v in new_params.items() if k not in existing})
    if _count(ctx, p, model_id) > MAX_PARAMS:
        raise ValidationError(f"a logged model holds at most {MAX_PARAMS} params", field="params")
    _touch(ctx, model_id)
    return {}


# -- metrics linked to a model -------------------------------------------------------------


def _float(item: dict[str, Any], field: str) -> float:
    if "value" not in item:
        raise ValidationError(f"Missing value for required parameter '{field}.value'", field=field)
    value = item["value"]
    try:
        if isinstance(value, bool | list | dict) or value is None:
            raise TypeError
        return float(value)  # protobuf JSON sends "NaN" and "Infinity" as strings
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field}.value must be a number", field=f"{field}.value") from exc


def _optional_text(item: dict[str, Any], name: str, field: str, limit: int) -> str | None:
    value = text(item, name, required=False, label=f"{field}.{name}")
    if value is not None and (len(value) > limit or "\x00" in value):
        raise ValidationError(
            f"{field}.{name} must be at most {limit} characters without NUL", field=field
        )
    return value


def record_model_metrics(ctx: Context, run_id: str | None, metrics: list[dict[str, Any]]) -> None:
    """Store metrics that name a logged model (``model_id``) on that model.

    ``metrics`` are MLflow's raw metric objects from a log-batch or log-metric request
    (``key``, ``value``, ``timestamp``, ``step``, ``model_id``, optional ``dataset_name`` and
    ``dataset_digest``); those without a non-empty ``model_id`` are skipped, so the whole
    request's list may be passed. Runs in the caller's transaction (``ctx``): call it after
    the run's own metrics are written, in the same handler, and an error here undoes both.
    Raises NotFoundError for an unknown or deleted model (RESOURCE_DOES_NOT_EXIST) and
    ValidationError for a malformed metric. A metric identical to one already stored
    (model, key, value, step, timestamp, run, dataset) is not stored twice.
    """
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    now = now_ms()
    for i, item in enumerate(metrics):
        if not isinstance(item, dict) or item.get("model_id") in (None, ""):
            continue
        field = f"metrics[{i}]"
        model_id = text(item, "model_id", label=f"{field}.model_id") or ""
        key = _key(text(item, "key", label=f"{field}.key") or "", "metric", f"{field}.key")
        value = _float(item, field)
        step = integer(item, "step", 0, label=f"{field}.step") or 0
        timestamp = integer(item, "timestamp", now, minimum=0, label=f"{field}.timestamp") or 0
        row = {
            "model_id": model_id,
            "key": key,
            "value": None if math.isnan(value) else value,
            "is_nan": math.isnan(value),
            "step": step,
            "timestamp": timestamp,
            "run_id": run_id,
            "dataset_name": _optional_text(item, "dataset_name", field, 500),
            "dataset_digest": _optional_text(item, "dataset_digest", field, 64),
        }
        identity = tuple(row.values())
        if identity not in seen:
            seen.add(identity)
            rows.append(row)
    if not rows:
        return
    for model_id in sorted({r["model_id"] for r in rows}):
        load_logged_model(ctx, model_id)
    m = t.logged_model_metrics
    stored = {
        tuple(r._mapping[name] for name in rows[0])
        for r in ctx.conn.execute(
            select(m).where(
                m.c.model_id.in_({r["model_id"] for r in rows}),
                m.c.key.in_({r["key"] for r in rows}),
            )
        )
    }
    fresh = [r for r in rows if tuple(r.values()) not in stored]
    if fresh:
        ctx.conn.execute(insert(m), fresh)


# -- search ------------------------------------------------------------------------------

_lm = t.logged_models.c
# Attribute name -> (column, numeric).
_ATTRIBUTES: dict[str, tuple[Any, bool]] = {
    "name": (_lm.name, False),
    "model_id": (_lm.model_id, False),
    "model_type": (_lm.model_type, False),
    "status": (_lm.status, False),
    "source_run_id": (_lm.run_id, False),
    "experiment_id": (_lm.experiment_id, False),
    "creation_time": (_lm.creation_time, True),
    "creation_timestamp": (_lm.creation_time, True),
    "creation_timestamp_ms": (_lm.creation_time, True),
    "last_updated_timestamp": (_lm.last_update_time, True),
    "last_updated_timestamp_ms": (_lm.last_update_time, True),
}
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
}
_QUOTED = r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
_CLAUSE = re.compile(
    r"\s*(?:(?P<entity>metrics|params|tags|attributes)\.)?"
    r"(?:`(?P<bq>[^`]+)`|\"(?P<dq>(?:[^\"]|\"\")+)\"|(?P<bare>[\w.\-/:]+))"
    r"\s*(?P<op>!=|<=|>=|=|<|>|NOT\s+IN\b|IN\b|ILIKE\b|LIKE\b)"
    rf"\s*(?P<value>{_QUOTED}|\((?:[^()'\"]|{_QUOTED})*\)"
    r"|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"\s*(?:(?P<and>AND)\b|$)",
    re.IGNORECASE,
)


def _string_condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    if op == "LIKE":
        return case_sensitive_like(column, value)
    if op == "ILIKE":
        return func.lower(column).like(func.lower(literal(value)))
    return _COMPARE[op](column, value)


def _clause(entity: str, key: str, op: str, raw: str) -> ColumnElement[bool]:
    """One comparison as a condition on ``mlflow_logged_models``."""
    numeric = entity == "metrics" or (entity == "attributes" and _ATTRIBUTES[key][1])
    ops = _NUMERIC_OPS if numeric else _STRING_OPS
    shown = key if entity == "attributes" else f"{entity}.{key}"
    if op not in ops:
        raise ValidationError(
            f"Invalid comparison operator for {shown}: {op!r}. Expected one of {ops}.",
            field="filter",
        )
    value: Any
    if numeric:
        try:
            value = float(raw)
        except ValueError:
            raise ValidationError(
                f"{shown} compares with numbers, got {raw!r}", field="filter"
            ) from None
    elif raw.startswith("("):
        value = tuple(unquote(v) for v in re.findall(_QUOTED, raw))
        if not value:
            raise ValidationError(f"{shown} {op} needs quoted values", field="filter")
    elif raw[0] in "'\"":
        value = unquote(raw)
    else:
        raise ValidationError(f"{shown} compares with quoted strings, got {raw!r}", field="filter")
    if entity == "attributes":
        column = _ATTRIBUTES[key][0]
        if numeric:
            return _COMPARE[op](column, int(value) if value.is_integer() else value)
        return _string_condition(column, op, value)
    table = {"params": t.logged_model_params, "tags": t.logged_model_tags}.get(entity)
    if table is not None:
        return exists(
            select(literal(1)).where(
                table.c.model_id == _lm.model_id,
                table.c.key == key,
                _string_condition(table.c.value, op, value),
            )
        )
    m = t.logged_model_metrics.c
    return exists(
        select(literal(1)).where(
            m.model_id == _lm.model_id, m.key == key, _COMPARE[op](m.value, value)
        )
    )


def _filter(raw: str) -> list[ColumnElement[bool]]:
    """MLflow's logged-model filter: comparisons joined by AND."""
    if len(raw) > MAX_FILTER_LENGTH:
        raise ValidationError(
            f"filter is {len(raw)} characters; the limit is {MAX_FILTER_LENGTH}", field="filter"
        )
    conditions = []
    pos = 0
    expect_more = bool(raw.strip())
    while expect_more:
        match = _CLAUSE.match(raw, pos)
        if match is None:
            raise ValidationError(
                f"Invalid filter string: {raw!r} at position {pos}. Expected comparisons "
                "separated by 'AND' (e.g. \"metrics.loss > 0.1 AND params.lr = '0.01'\").",
                field="filter",
            )
        entity = (match.group("entity") or "attributes").lower()
        dq = match.group("dq")
        key = match.group("bq") or (dq.replace('""', '"') if dq else match.group("bare"))
        if entity == "attributes" and key not in _ATTRIBUTES:
            raise ValidationError(
                f"Invalid attribute {key!r} in the filter; expected one of "
                f"{sorted(_ATTRIBUTES)}, or metrics.<key>, params.<key>, tags.<key>",
                field="filter",
            )
        op = " ".join(match.group("op").upper().split())
        conditions.append(_clause(entity, key, op, match.group("value")))
        pos = match.end()
        expect_more = match.group("and") is not None
        if expect_more and not raw[pos:].strip():
            raise ValidationError("filter ends with AND", field="filter")
    return conditions


def _datasets(body: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The ``datasets`` filter: models with a metric on any of the named datasets."""
    m = t.logged_model_metrics.c
    options = []
    for i, item in enumerate(objects(body, "datasets")):
        name = text(item, "dataset_name", required=False, label=f"datasets[{i}].dataset_name")
        if not name:
            raise ValidationError(
                "`dataset_name` in the `datasets` clause must be specified.", field="datasets"
            )
        digest = text(item, "dataset_digest", required=False, label=f"datasets[{i}].digest")
        options.append(
            m.dataset_name == name
            if not digest
            else and_(m.dataset_name == name, m.dataset_digest == digest)
        )
    if not options:
        return []
    return [exists(select(literal(1)).where(m.model_id == _lm.model_id, or_(*options)))]


def _order(body: dict[str, Any], query: Select[Any]) -> Select[Any]:
    terms: list[Any] = []
    found = objects(body, "order_by")
    if len(found) > MAX_ORDER_BY:
        raise ValidationError(f"order_by has more than {MAX_ORDER_BY} items", field="order_by")
    columns_seen = set()
    m = t.logged_model_metrics
    for i, item in enumerate(found):
        field_name = text(item, "field_name", label=f"order_by[{i}].field_name") or ""
        ascending = item.get("ascending", True)
        if not isinstance(ascending, bool):
            raise ValidationError(
                f"'order_by[{i}].ascending' must be a boolean", field=f"order_by[{i}]"
            )
        if "." not in field_name:
            if field_name not in _ATTRIBUTES:
                raise ValidationError(
                    f"Invalid order by field name: {field_name}", field="order_by"
                )
            column = _ATTRIBUTES[field_name][0]
            columns_seen.add(column.name)
            terms += [
                case((column.is_(None), 1), else_=0),
                column.asc() if ascending else column.desc(),
            ]
            continue
        entity, key = field_name.split(".", 1)
        if entity != "metrics":
            raise ValidationError(
                f"Invalid order by field name: {field_name}. Only metrics are supported.",
                field="order_by",
            )
        where = [m.c.key == key.strip("`")]
        for name in ("dataset_name", "dataset_digest"):
            value = text(item, name, required=False, label=f"order_by[{i}].{name}")
            if value:
                where.append(m.c[name] == value)
        ranked = (
            select(
                m.c.model_id,
                m.c.value,
                func.row_number()
                .over(
                    partition_by=m.c.model_id,
                    order_by=[m.c.timestamp.desc(), m.c.step.desc(), m.c.id.desc()],
                )
                .label("rank"),
            )
            .where(*where)
            .subquery()
        )
        latest = select(ranked.c.model_id, ranked.c.value).where(ranked.c.rank == 1).subquery()
        query = query.outerjoin(latest, latest.c.model_id == _lm.model_id)
        terms += [
            case((latest.c.value.is_(None), 1), else_=0),
            latest.c.value.asc() if ascending else latest.c.value.desc(),
        ]
    if "creation_time" not in columns_seen:
        terms.append(_lm.creation_time.desc())
    if "model_id" not in columns_seen:
        terms.append(_lm.model_id.asc())
    return query.order_by(*terms)


def search_logged_models(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ids = strings(body, "experiment_ids")
    if not ids:
        raise ValidationError(
            "experiment_ids must name at least one experiment", field="experiment_ids"
        )
    conditions = _filter(text(body, "filter", required=False) or "") + _datasets(body)
    limit = integer(body, "max_results", 0) or MAX_RESULTS_DEFAULT
    if not 1 <= limit <= MAX_RESULTS_LIMIT:
        raise ValidationError(
            f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {limit}",
            field="max_results",
        )
    offset = integer(body, "page_token", 0, minimum=0) or 0
    if offset > _INT32_MAX:
        raise ValidationError(
            f"page_token {offset} is not one this server gave", field="page_token"
        )
    # A search is a read: MLflow's "0" before the Default experiment exists matches nothing.
    default = experiments.default_experiment_id(ctx)
    ids = [str(default) if e == "0" else e for e in ids if e != "0" or default is not None]
    for experiment_id in ids:
        experiments.get_experiment(ctx, s.ExperimentId(experiment_id=experiment_id))
    query = select(t.logged_models).where(
        _lm.experiment_id.in_(ids), _lm.lifecycle_stage == "active", *conditions
    )
    query = _order(body, query)
    rows = list(ctx.conn.execute(query.limit(limit + 1).offset(offset)))
    answer: dict[str, Any] = {"models": _answers(ctx, rows[:limit])}
    if len(rows) > limit:
        answer["next_page_token"] = str(offset + limit)
    return answer


def log_outputs(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Record that a run produced logged models, at a step: any model id, as in MLflow (a
    model logged by another run, or not yet created, may be named)."""
    run_id = text(body, "run_id") or ""
    outputs = [
        (
            text(item, "model_id", label=f"models[{i}].model_id") or "",
            integer(item, "step", 0, label=f"models[{i}].step"),
        )
        for i, item in enumerate(objects(body, "models"))
    ]
    record_model_outputs(ctx, run_id, outputs)
    return {}


ENDPOINTS: list[Endpoint] = [
    Endpoint("/logged-models", "POST", create_logged_model, "writer"),
    Endpoint("/logged-models/search", "POST", search_logged_models, "reader"),
    Endpoint("/logged-models/{model_id}", "GET", get_logged_model, "reader"),
    Endpoint("/logged-models/{model_id}", "PATCH", finalize_logged_model, "writer"),
    Endpoint("/logged-models/{model_id}", "DELETE", delete_logged_model, "writer"),
    Endpoint("/logged-models/{model_id}/tags", "PATCH", set_logged_model_tags, "writer"),
    Endpoint(
        "/logged-models/{model_id}/tags/{tag_key}", "DELETE", delete_logged_model_tag, "writer"
    ),
    Endpoint("/logged-models/{model_id}/params", "POST", log_logged_model_params, "writer"),
    Endpoint("/runs/outputs", "POST", log_outputs, "writer"),
]
