"""MLflow 3's logged-models endpoints (``/api/2.0/mlflow/logged-models``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads the model directory to the
location it is given, then marks the model ready. mloop hands out a location inside the
source run's artifacts, ``<run>/artifacts/<name>``, so the model is also an ordinary run
artifact: ``runs:/<run_id>/<name>`` resolves to it for the registry, the SDK and the UI,
exactly as for models logged with ``mloop.sklearn.log_model``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import insert, select, update

from mloop.compat.mlflow import tables as t
from mloop.compat.mlflow.http import Endpoint, integer, objects, pairs, strings, text
from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.core.ids import new_id
from mloop.core.timeutil import now_ms
from mloop.store.artifacts import clean_relative_path
from mloop.store.context import Context
from mloop.tracking import experiments
from mloop.tracking import schemas as s
from mloop.tracking.runs import load_run_row, require_active_run

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
MAX_PARAMS = 1000
MAX_TAGS = 1000
MAX_VALUE_LENGTH = 8000
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
# The filters MLflow's own client sends: ``name = '...'``, optionally with more clauses.
_CLAUSE = re.compile(
    r"^\s*(name|source_run_id|status|model_id)\s*(=|!=)\s*'((?:[^']|'')*)'\s*$", re.IGNORECASE
)


def _experiment_id(ctx: Context, value: str | None) -> str:
    if value in (None, "", "0"):
        return str(experiments.ensure_default_experiment(ctx))
    return value


def _model_id(body: dict[str, Any], label: str = "model_id") -> str:
    model_id = text(body, "model_id", label=label) or ""
    if not _MODEL_ID.match(model_id):
        raise ValidationError(
            f"{label}: {model_id!r} is not a logged model id (m-<32 hex>)", field=label
        )
    return model_id


def load_logged_model(ctx: Context, model_id: str, *, allow_deleted: bool = False) -> Any:
    """The logged model's row; deleted ones only with ``allow_deleted``."""
    row = ctx.conn.execute(
        select(t.logged_models).where(t.logged_models.c.model_id == model_id)
    ).first()
    if row is None or (row.lifecycle_stage == "deleted" and not allow_deleted):
        raise NotFoundError(f"logged model {model_id} does not exist", field="model_id")
    return row


def logged_model_source(ctx: Context, model_id: str) -> str:
    """``runs:/<run_id>/<name>`` for ``models:/<model_id>``, so the registry can copy it."""
    row = load_logged_model(ctx, model_id)
    if row.status != "LOGGED_MODEL_READY":
        raise ValidationError(
            f"logged model {model_id} is {row.status}, not ready: its upload did not finish",
            field="source",
        )
    return f"runs:/{row.run_id}/{row.name}"


def _bounded(pairs_: list[tuple[str, str]], what: str, limit: int) -> dict[str, str]:
    if len(pairs_) > limit:
        raise ValidationError(f"at most {limit} {what} per request, got {len(pairs_)}", field=what)
    for key, value in pairs_:
        if not key or len(key) > 250:
            raise ValidationError(f"{what} keys must be 1 to 250 characters", field=what)
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationError(
                f"{what} {key!r} is {len(value)} characters; the limit is {MAX_VALUE_LENGTH}",
                field=what,
            )
    return dict(pairs_)


def _json(row: Any) -> dict[str, Any]:
    tags = json.loads(row.tags_json)
    params = json.loads(row.params_json)
    return {
        "info": {
            "model_id": row.model_id,
            "experiment_id": row.experiment_id,
            "name": row.name,
            "creation_timestamp_ms": row.creation_time,
            "last_updated_timestamp_ms": row.last_update_time,
            "artifact_uri": f"mlflow-artifacts:/{row.storage_path}",
            "status": row.status,
            "model_type": row.model_type,
            "source_run_id": row.run_id,
            "status_message": row.status_message,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in params.items()], "metrics": []},
    }


def _model_answer(ctx: Context, model_id: str) -> dict[str, Any]:
    return {"model": _json(load_logged_model(ctx, model_id, allow_deleted=True))}


def _touch(ctx: Context, model_id: str, **values: Any) -> None:
    ctx.conn.execute(
        update(t.logged_models)
        .where(t.logged_models.c.model_id == model_id)
        .values(last_update_time=now_ms(), **values)
    )


def create_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    # The whole request is checked before anything is looked up: a malformed one is a 400.
    tags = _bounded(pairs(body, "tags"), "tags", MAX_TAGS)
    params = _bounded(pairs(body, "params"), "params", MAX_PARAMS)
    model_type = text(body, "model_type", required=False) or ""
    run_id = text(body, "source_run_id", required=False)
    if run_id is None:
        raise ValidationError(
            "mloop keeps logged models in runs: call log_model inside mlflow.start_run()",
            field="source_run_id",
        )
    run = require_active_run(ctx, run_id)
    experiment_id = _experiment_id(ctx, text(body, "experiment_id", required=False))
    if str(run.experiment_id) != experiment_id:
        raise ValidationError(
            f"run {run_id} belongs to experiment {run.experiment_id}, not {experiment_id}",
            field="experiment_id",
        )
    name = text(body, "name", required=False) or "model"
    if "/" in clean_relative_path(name, "name"):
        raise ValidationError(f"logged model name {name!r} must not contain '/'", field="name")
    storage_path = f"{run.artifact_uri}/{name}"
    taken = ctx.conn.execute(
        select(t.logged_models.c.model_id).where(
            t.logged_models.c.run_id == run_id, t.logged_models.c.name == name
        )
    ).first()
    if taken is not None or ctx.artifacts.exists(storage_path):
        raise ConflictError(
            f"run {run_id} already has an artifact named {name!r}; log this model under "
            "another name",
            field="name",
        )
    model_id = "m-" + new_id()
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
            tags_json=json.dumps(tags),
            params_json=json.dumps(params),
            creation_time=now,
            last_update_time=now,
        )
    )
    return _model_answer(ctx, model_id)


def get_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    allow_deleted = str(body.get("allow_deleted", "")).lower() == "true"
    load_logged_model(ctx, model_id, allow_deleted=allow_deleted)
    return _model_answer(ctx, model_id)


def finalize_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    load_logged_model(ctx, model_id)
    status = text(body, "status", required=False) or ""
    if status not in STATUSES[1:]:
        raise ValidationError(
            f"status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, got {status!r}",
            field="status",
        )
    _touch(ctx, model_id, status=status)
    return _model_answer(ctx, model_id)


def delete_logged_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Mark the model deleted; its files stay in the run, like other run artifacts."""
    model_id = _model_id(body)
    load_logged_model(ctx, model_id)
    _touch(ctx, model_id, lifecycle_stage="deleted")
    return {}


def set_logged_model_tags(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    new_tags = _bounded(pairs(body, "tags"), "tags", MAX_TAGS)
    row = load_logged_model(ctx, model_id)
    tags = json.loads(row.tags_json)
    tags.update(new_tags)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"a logged model holds at most {MAX_TAGS} tags", field="tags")
    _touch(ctx, model_id, tags_json=json.dumps(tags))
    return {}


def delete_logged_model_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    row = load_logged_model(ctx, model_id)
    tags = json.loads(row.tags_json)
    key = text(body, "tag_key") or ""
    if key not in tags:
        raise NotFoundError(f"logged model {model_id} has no tag {key!r}", field="key")
    del tags[key]
    _touch(ctx, model_id, tags_json=json.dumps(tags))
    return {}


def log_logged_model_params(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    model_id = _model_id(body)
    new_params = _bounded(pairs(body, "params"), "params", MAX_PARAMS)
    row = load_logged_model(ctx, model_id)
    params = json.loads(row.params_json)
    for key, value in new_params.items():
        if params.get(key, value) != value:
            raise ValidationError(
                f"param {key!r} of logged model {model_id} is already {params[key]!r}; "
                "params cannot change",
                field="params",
            )
        params[key] = value
    _touch(ctx, model_id, params_json=json.dumps(params))
    return {}


def _search_clauses(raw: str) -> list[tuple[str, str, str]]:
    clauses = []
    for part in re.split(r"\s+AND\s+", raw.strip(), flags=re.IGNORECASE) if raw.strip() else []:
        match = _CLAUSE.match(part)
        if match is None:
            raise ValidationError(
                f"unsupported logged-model filter {part!r}: use name, source_run_id, status or "
                "model_id with = or != and a quoted value, joined by AND",
                field="filter",
            )
        clauses.append((match.group(1).lower(), match.group(2), match.group(3).replace("''", "'")))
    return clauses


def search_logged_models(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ids = strings(body, "experiment_ids")
    if not ids:
        raise ValidationError(
            "experiment_ids must name at least one experiment", field="experiment_ids"
        )
    ids = [_experiment_id(ctx, e) for e in ids]
    for experiment_id in ids:
        experiments.get_experiment(ctx, s.ExperimentId(experiment_id=experiment_id))
    c = t.logged_models.c
    query = select(t.logged_models).where(c.experiment_id.in_(ids), c.lifecycle_stage == "active")
    for field, op, value in _search_clauses(text(body, "filter", required=False) or ""):
        column = c.run_id if field == "source_run_id" else c[field]
        query = query.where(column == value if op == "=" else column != value)
    limit = max(1, min(integer(body, "max_results", 100) or 100, 1000))
    offset = integer(body, "page_token", 0, minimum=0) or 0
    rows = list(
        ctx.conn.execute(
            query.order_by(c.creation_time.desc(), c.model_id).limit(limit + 1).offset(offset)
        )
    )
    answer: dict[str, Any] = {"models": [_json(r) for r in rows[:limit]]}
    if len(rows) > limit:
        answer["next_page_token"] = str(offset + limit)
    return answer


def log_outputs(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Record that a run produced logged models, and at which step."""
    run_id = text(body, "run_id") or ""
    load_run_row(ctx, run_id)
    outputs = [
        (
            _model_id(item, f"models[{i}].model_id"),
            integer(item, "step", 0, label=f"models[{i}].step"),
        )
        for i, item in enumerate(objects(body, "models"))
    ]
    for model_id, step in outputs:
        row = load_logged_model(ctx, model_id)
        if row.run_id != run_id:
            raise ValidationError(
                f"logged model {model_id} was not logged by run {run_id}", field="models"
            )
        _touch(ctx, model_id, output_step=step)
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
