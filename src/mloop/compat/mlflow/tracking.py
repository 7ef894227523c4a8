"""MLflow's tracking REST endpoints (``/api/2.0/mlflow/...``) over mloop's tracking domain.

Each endpoint translates MLflow's request into a call of mloop's own tracking operations and
the answer back into MLflow's JSON, so there is one data model behind both APIs.
"""

from __future__ import annotations

import json
from typing import Any

from mloop.compat.mlflow import protocol as p
from mloop.compat.mlflow.http import (
    Endpoint,
    integer,
    items,
    obj,
    objects,
    pairs,
    strings,
    text,
    value_text,
)
from mloop.core.errors import ValidationError
from mloop.core.timeutil import now_ms
from mloop.core.validation import MAX_TAG_VALUE_LENGTH
from mloop.store.context import Context
from mloop.tracking import experiments, ingest, runs
from mloop.tracking import schemas as s


def _run_id(body: dict[str, Any]) -> str:
    run_id = text(body, "run_id", required=False) or text(body, "run_uuid", required=False)
    if not run_id:
        raise ValidationError("Missing value for required parameter 'run_id'", field="run_id")
    return run_id


def _experiment_id(ctx: Context, value: str | None) -> str | None:
    """MLflow's default experiment is "0"; here it is mloop's Default experiment."""
    if value == "0":
        return str(experiments.ensure_default_experiment(ctx))
    return value


def _run_body(ctx: Context, run_id: str) -> dict[str, Any]:
    return p.run(runs.fetch_run_parts(ctx, [run_id]), run_id)


# -- experiments ------------------------------------------------------------------------


def create_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = text(body, "name")
    location = text(body, "artifact_location", required=False)
    if location and location.startswith("mlflow-artifacts:/"):
        location = location[len("mlflow-artifacts:/") :]
    req = s.CreateExperiment(
        name=name or "", artifact_location=location, tags=dict(pairs(body, "tags"))
    )
    return {"experiment_id": experiments.create_experiment(ctx, req).experiment_id}


def get_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    experiment_id = _experiment_id(ctx, text(body, "experiment_id")) or ""
    req = s.ExperimentId(experiment_id=experiment_id)
    return {"experiment": p.experiment(experiments.get_experiment(ctx, req))}


def get_experiment_by_name(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = s.ExperimentName(name=text(body, "experiment_name") or "")
    return {"experiment": p.experiment(experiments.get_experiment_by_name(ctx, req))}


def search_experiments(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    view = p.VIEW_TYPES.get(str(body.get("view_type") or "ACTIVE_ONLY"))
    if view is None:
        raise ValidationError(f"unknown view_type {body.get('view_type')!r}", field="view_type")
    found = experiments.list_experiments(ctx, s.ListExperiments(view=view)).experiments
    name_filter = text(body, "filter", required=False)
    if name_filter:
        found = [e for e in found if _experiment_matches(e, name_filter)]
    limit = integer(body, "max_results", 1000, minimum=0) or 1000
    offset = integer(body, "page_token", 0, minimum=0) or 0
    page = found[offset : offset + limit]
    answer: dict[str, Any] = {"experiments": [p.experiment(e) for e in page]}
    if offset + limit < len(found):
        answer["next_page_token"] = str(offset + limit)
    return answer


def _experiment_matches(exp: s.Experiment, text: str) -> bool:
    # MLflow's experiment filter: name = / != / LIKE / ILIKE 'value' (the forms clients send).
    for op in (" ILIKE ", " LIKE ", " != ", " = "):
        field, sep, value = text.partition(op)
        if not sep:
            continue
        if field.strip().lower() not in ("name", "attribute.name", "attributes.name"):
            raise ValidationError(f"unsupported experiment filter {text!r}", field="filter")
        wanted = value.strip().strip("'\"")
        if op.strip() in ("LIKE", "ILIKE"):
            import fnmatch

            pattern = wanted.replace("%", "*").replace("_", "?")
            if op.strip() == "ILIKE":
                return fnmatch.fnmatch(exp.name.lower(), pattern.lower())
            return fnmatch.fnmatchcase(exp.name, pattern)
        return (exp.name == wanted) == (op.strip() == "=")
    raise ValidationError(f"unsupported experiment filter {text!r}", field="filter")


def set_experiment_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = s.SetExperimentTag(
        experiment_id=text(body, "experiment_id") or "",
        key=text(body, "key") or "",
        value=value_text(body, "value"),
    )
    experiments.set_experiment_tag(ctx, req)
    return {}


def delete_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    experiments.delete_experiment(
        ctx, s.ExperimentId(experiment_id=text(body, "experiment_id") or "")
    )
    return {}


def restore_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    experiments.restore_experiment(
        ctx, s.ExperimentId(experiment_id=text(body, "experiment_id") or "")
    )
    return {}


# -- runs -------------------------------------------------------------------------------


def create_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    tags = dict(pairs(body, "tags"))
    req = s.CreateRun(
        experiment_id=_experiment_id(ctx, text(body, "experiment_id", required=False)),
        run_name=text(body, "run_name", required=False) or tags.get("mlflow.runName"),
        start_time=integer(body, "start_time"),
        tags=tags,
        parent_run_id=tags.get("mlflow.parentRunId"),
        user_id=text(body, "user_id", required=False),
    )
    created = runs.create_run(ctx, req)
    return {"run": _run_body(ctx, created.info.run_id)}


def update_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = s.UpdateRun(
        run_id=_run_id(body),
        status=text(body, "status", required=False),
        end_time=integer(body, "end_time"),
        run_name=text(body, "run_name", required=False),
    )
    return {"run_info": p.run_info(runs.update_run(ctx, req))}


def get_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    run_id = _run_id(body)
    runs.load_run_row(ctx, run_id)
    return {"run": _run_body(ctx, run_id)}


def delete_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    runs.delete_run(ctx, s.RunId(run_id=_run_id(body)))
    return {}


def restore_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    runs.restore_run(ctx, s.RunId(run_id=_run_id(body)))
    return {}


def search_runs(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    view = p.VIEW_TYPES.get(str(body.get("run_view_type") or "ACTIVE_ONLY"))
    if view is None:
        raise ValidationError(
            f"unknown run_view_type {body.get('run_view_type')!r}", field="run_view_type"
        )
    req = s.SearchRuns(
        experiment_ids=[_experiment_id(ctx, e) or "" for e in strings(body, "experiment_ids")],
        filter=text(body, "filter", required=False) or "",
        order_by=strings(body, "order_by"),
        max_results=integer(body, "max_results", 1000) or 1000,
        page_token=text(body, "page_token", required=False),
        view=view,
    )
    ids, token = runs.search_run_ids(ctx, req)
    parts = runs.fetch_run_parts(ctx, ids)
    answer: dict[str, Any] = {"runs": [p.run(parts, run_id) for run_id in ids]}
    if token:
        answer["next_page_token"] = token
    return answer


# -- logging ----------------------------------------------------------------------------


def _metric_columns(metrics: list[Any]) -> s.MetricColumns:
    """MLflow's metric objects as mloop's columnar batch (one validation, not one per metric)."""
    keys, values, steps, timestamps = [], [], [], []
    now = now_ms()
    for i, item in enumerate(metrics):
        field = f"metrics[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{field} must be an object", field=field)
        keys.append(text(item, "key", required=False, label=f"{field}.key") or "")
        values.append(_metric_value(item, field))
        timestamps.append(integer(item, "timestamp", now, label=f"{field}.timestamp") or 0)
        steps.append(integer(item, "step", 0, label=f"{field}.step") or 0)
    return s.MetricColumns(keys=keys, values=values, steps=steps, timestamps=timestamps)


def _metric_value(item: dict[str, Any], field: str) -> float:
    if "value" not in item:
        raise ValidationError(f"Missing value for required parameter '{field}.value'", field=field)
    try:
        return float(item["value"])  # protobuf JSON sends "NaN" and "Infinity" as strings
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field}.value must be a number", field=f"{field}.value") from exc


def log_batch(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    metrics = items(body, "metrics")
    params = pairs(body, "params")
    tags = pairs(body, "tags")
    if len(metrics) > p.MAX_METRICS_PER_BATCH:
        raise ValidationError(
            f"A batch logging request can contain at most {p.MAX_METRICS_PER_BATCH} metrics. "
            f"Got {len(metrics)} metrics.",
            field="metrics",
        )
    for name, given in (("params", params), ("tags", tags)):
        if len(given) > p.MAX_PARAMS_TAGS_PER_BATCH:
            raise ValidationError(
                f"A batch logging request can contain at most {p.MAX_PARAMS_TAGS_PER_BATCH} "
                f"{name}. Got {len(given)} {name}.",
                field=name,
            )
    if len(metrics) + len(params) + len(tags) > p.MAX_ENTITIES_PER_BATCH:
        raise ValidationError(
            f"A batch logging request can contain at most {p.MAX_ENTITIES_PER_BATCH} "
            "total metrics, params and tags.",
            field="metrics",
        )
    req = s.LogBatch(
        run_id=_run_id(body),
        metric_columns=_metric_columns(metrics) if metrics else None,
        params=[s.ParamIn(key=k, value=v) for k, v in params],
        tags=[s.TagIn(key=k, value=v) for k, v in tags],
    )
    ingest.log_batch(ctx, req)
    return {}


def log_metric(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    return log_batch(ctx, {"run_id": _run_id(body), "metrics": [body]})


def log_param(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    pair = {"key": text(body, "key"), "value": value_text(body, "value")}
    return log_batch(ctx, {"run_id": _run_id(body), "params": [pair]})


def set_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    pair = {"key": text(body, "key"), "value": value_text(body, "value")}
    return log_batch(ctx, {"run_id": _run_id(body), "tags": [pair]})


def delete_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ingest.delete_tag(ctx, s.DeleteTag(run_id=_run_id(body), key=text(body, "key") or ""))
    return {}


def _dataset_input(item: dict[str, Any], field: str) -> s.DatasetInput:
    """One of MLflow's ``DatasetInput`` objects; errors name the field inside the list."""
    where = f"{field}.dataset"
    dataset = obj(item, "dataset", label=where)
    tags = dict(pairs(item, "tags", label=f"{field}.tags"))

    def field_text(name: str, *, required: bool = False) -> str:
        return text(dataset, name, required=required, label=f"{where}.{name}") or ""

    return s.DatasetInput(
        name=field_text("name", required=True),
        digest=field_text("digest"),
        source=field_text("source"),
        source_type=field_text("source_type"),
        context=tags.get("mlflow.data.context") or "training",
        dataset_schema=field_text("schema") or None,
    )


def log_inputs(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    run_id = _run_id(body)
    datasets = [
        _dataset_input(item, f"datasets[{i}]") for i, item in enumerate(objects(body, "datasets"))
    ]
    ingest.log_inputs(ctx, s.LogInputs(run_id=run_id, datasets=datasets))
    return {}


def get_metric_history(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """One page of the history; ``next_page_token`` says more follows (MLflow's client pages)."""
    max_results = integer(body, "max_results")
    if max_results is not None and max_results <= 0:
        raise ValidationError(
            f"max_results must be a positive integer, got {max_results}", field="max_results"
        )
    req = s.GetMetricHistory(
        run_id=_run_id(body),
        key=text(body, "metric_key") or "",
        max_results=min(max_results, 1_000_000) if max_results else None,
        page_token=text(body, "page_token", required=False) or None,
    )
    history = ingest.get_metric_history(ctx, req)
    answer: dict[str, Any] = {"metrics": [p.metric(m) for m in history.metrics]}
    if history.next_page_token:
        answer["next_page_token"] = history.next_page_token
    return answer


_MODEL_HISTORY_TAG = "mlflow.log-model.history"


def log_model(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """MLflow's record of a logged model's ``MLmodel``, appended to a run tag as MLflow does."""
    run_id = _run_id(body)
    raw = text(body, "model_json") or ""
    try:
        model = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"model_json is not valid JSON: {exc}", field="model_json") from exc
    if not isinstance(model, dict):
        raise ValidationError("model_json must be a JSON object", field="model_json")
    for key in ("artifact_path", "flavors", "utc_time_created"):
        if key not in model:
            raise ValidationError(f"model_json has no {key!r}", field="model_json")
    runs.load_run_row(ctx, run_id)  # an unknown run is a 404, not an empty list
    tags = runs.load_runs(ctx, [run_id])[0].data.tags
    try:
        history = json.loads(tags.get(_MODEL_HISTORY_TAG) or "[]")
    except ValueError:
        history = []
    history = [*history, model] if isinstance(history, list) else [model]
    encoded = json.dumps(history)
    # Oldest entries give way when the tag would exceed mloop's tag value limit.
    while len(encoded) > MAX_TAG_VALUE_LENGTH and len(history) > 1:
        history = history[1:]
        encoded = json.dumps(history)
    if len(encoded) > MAX_TAG_VALUE_LENGTH:
        return {}  # one MLmodel larger than a tag: the model's own files still hold it
    return log_batch(
        ctx, {"run_id": run_id, "tags": [{"key": _MODEL_HISTORY_TAG, "value": encoded}]}
    )


ENDPOINTS: list[Endpoint] = [
    Endpoint("/experiments/create", "POST", create_experiment, "writer"),
    Endpoint("/experiments/get", "GET", get_experiment, "reader", quick=True),
    Endpoint("/experiments/get-by-name", "GET", get_experiment_by_name, "reader", quick=True),
    Endpoint("/experiments/search", "POST", search_experiments, "reader"),
    Endpoint("/experiments/search", "GET", search_experiments, "reader"),
    Endpoint("/experiments/set-experiment-tag", "POST", set_experiment_tag, "writer", quick=True),
    Endpoint("/experiments/delete", "POST", delete_experiment, "writer"),
    Endpoint("/experiments/restore", "POST", restore_experiment, "writer"),
    Endpoint("/runs/create", "POST", create_run, "writer", quick=True),
    Endpoint("/runs/update", "POST", update_run, "writer", quick=True),
    Endpoint("/runs/get", "GET", get_run, "reader", quick=True),
    Endpoint("/runs/delete", "POST", delete_run, "writer"),
    Endpoint("/runs/restore", "POST", restore_run, "writer"),
    Endpoint("/runs/search", "POST", search_runs, "reader"),
    Endpoint("/runs/log-batch", "POST", log_batch, "writer", quick=True),
    Endpoint("/runs/log-metric", "POST", log_metric, "writer", quick=True),
    Endpoint("/runs/log-parameter", "POST", log_param, "writer", quick=True),
    Endpoint("/runs/set-tag", "POST", set_tag, "writer", quick=True),
    Endpoint("/runs/delete-tag", "POST", delete_tag, "writer", quick=True),
    Endpoint("/runs/log-inputs", "POST", log_inputs, "writer"),
    Endpoint("/metrics/get-history", "GET", get_metric_history, "reader"),
    Endpoint("/runs/log-model", "POST", log_model, "writer"),
]
