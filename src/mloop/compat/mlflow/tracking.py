"""MLflow's tracking REST endpoints (``/api/2.0/mlflow/...``) over mloop's tracking domain.

Each endpoint translates MLflow's request into a call of mloop's own tracking operations and
the answer back into MLflow's JSON, so there is one data model behind both APIs.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from mloop.compat.mlflow import logged_models, run_models
from mloop.compat.mlflow import protocol as p
from mloop.compat.mlflow.http import (
    INT64_MAX,
    INT64_MIN,
    Endpoint,
    artifact_subpath,
    integer,
    invalid,
    items,
    missing,
    obj,
    objects,
    pairs,
    strings,
    text,
    value_text,
)
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.validation import MAX_TAG_VALUE_LENGTH
from mloop.store.context import Context
from mloop.tracking import experiments, ingest, runs
from mloop.tracking import schemas as s


def _run_not_found(run_id: str) -> NotFoundError:
    # MLflow's wording: clients and MLflow's own tests match "Run .+ not found".
    return NotFoundError(f"Run with id={run_id} not found", field="run_id")


def _run_id(body: dict[str, Any]) -> str:
    """The run's id (``run_id``, or ``run_uuid`` from older clients). An id no run can
    have is a run that does not exist, as in MLflow, not a malformed request."""
    name = "run_id" if body.get("run_id") not in (None, "") else "run_uuid"
    value = body.get(name)
    if value is None or value == "":
        raise missing("run_id")
    if not isinstance(value, str):
        raise invalid(name, value, "a string")
    if len(value) > 32 or not value.isalnum():
        raise _run_not_found(value)
    return value


def _mlflow_run_errors(handler: Any) -> Any:
    """``handler`` with mloop's "run ... does not exist" worded as MLflow words it."""

    @functools.wraps(handler)
    def call(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(handler(ctx, body))
        except NotFoundError as exc:
            if exc.field != "run_id":
                raise
            raise _run_not_found(str(body.get("run_id") or body.get("run_uuid"))) from None

    return call


def _experiment_id(ctx: Context, value: str | None) -> str | None:
    """MLflow's default experiment is "0"; here it is mloop's Default experiment (id 0 in
    stores where it was first used after mloop gave it that id). Creates it: writes only."""
    if value == "0":
        return str(experiments.ensure_default_experiment(ctx))
    return value


def _read_experiment_id(ctx: Context, value: str) -> str:
    """``_experiment_id`` for reads: "0" before the Default experiment exists stays "0"."""
    if value == "0":
        found = experiments.default_experiment_id(ctx)
        return "0" if found is None else str(found)
    return value


# What MLflow shows for its Default experiment before anything was logged to it: MLflow
# creates it when its server starts; mloop creates it on the first write that needs it, so
# reads show this until then (creation time 0: older than every other experiment).
_DEFAULT_UNCREATED: dict[str, Any] = {
    "experiment_id": "0",
    "name": experiments.DEFAULT_EXPERIMENT_NAME,
    "artifact_location": "mlflow-artifacts:/experiments/0",
    "lifecycle_stage": "active",
    "creation_time": 0,
    "last_update_time": 0,
    "tags": [],
}


def _run_body(ctx: Context, run_id: str) -> dict[str, Any]:
    links = run_models.model_links(ctx, [run_id])
    return p.run(runs.fetch_run_parts(ctx, [run_id]), run_id, links.get(run_id))


# -- experiments ------------------------------------------------------------------------


def create_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = text(body, "name") or ""
    location = _declared_location(text(body, "artifact_location", required=False))
    tags = dict(pairs(body, "tags"))
    # MLflow's Default experiment exists before any other: created first, it stays the oldest.
    experiments.ensure_default_experiment(ctx)
    store_path = _store_path(location)
    req = s.CreateExperiment(
        name=name, tags=tags, artifact_location=store_path, declared_location=location
    )
    return {"experiment_id": experiments.create_experiment(ctx, req).experiment_id}


def _declared_location(location: str | None) -> str | None:
    """A plain relative path made absolute from the server's directory, as MLflow's server
    records it; anything else (a URI, an absolute path) as given."""
    if location is None or "://" in location or location.startswith("mlflow-artifacts:"):
        return location
    if location.startswith("runs:"):
        raise invalid("artifact_location", location, "a location that is not a runs:/ URI")
    return os.path.abspath(location)


def _store_path(location: str | None) -> str | None:
    """Where in mloop's store the runs of an experiment created with ``location`` keep their
    files: the path of an ``mlflow-artifacts:`` URI (refused if it would leave the store);
    None (mloop's own place) for a location mloop does not write to, such as ``s3://...``
    or a local path: clients still upload through mloop's proxy."""
    from mloop.store.artifacts import clean_relative_path

    if location is None or not location.startswith("mlflow-artifacts:"):
        return None
    path = location[len("mlflow-artifacts:") :]
    if path.startswith("//"):  # mlflow-artifacts://host:port/path
        path = path[2:].partition("/")[2]
    return clean_relative_path(path.lstrip("/"), "artifact_location")


def get_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    experiment_id = _read_experiment_id(ctx, text(body, "experiment_id") or "")
    if experiment_id == "0" and experiments.default_experiment_id(ctx) is None:
        return {"experiment": dict(_DEFAULT_UNCREATED)}
    req = s.ExperimentId(experiment_id=experiment_id)
    return {"experiment": p.experiment(experiments.get_experiment(ctx, req))}


def get_experiment_by_name(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    name = text(body, "experiment_name") or ""
    uncreated = experiments.default_experiment_id(ctx) is None
    if name == experiments.DEFAULT_EXPERIMENT_NAME and uncreated:
        return {"experiment": dict(_DEFAULT_UNCREATED)}
    req = s.ExperimentName(name=name)
    return {"experiment": p.experiment(experiments.get_experiment_by_name(ctx, req))}


# MLflow's ViewType enum, by name or by number (protobuf JSON accepts both).
_VIEW_NUMBERS = {"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}
_MAX_SEARCH = 50_000  # MLflow's SEARCH_MAX_RESULTS_THRESHOLD


def _view(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        return "active"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(name, value, "ACTIVE_ONLY, DELETED_ONLY or ALL")
    view = p.VIEW_TYPES.get(_VIEW_NUMBERS.get(str(value), str(value)))
    if view is None:
        raise invalid(name, value, "ACTIVE_ONLY, DELETED_ONLY or ALL")
    return view


def _max_results(body: dict[str, Any], default: int) -> int:
    """``max_results`` from 1 to MLflow's limit of 50,000, refused as MLflow refuses it."""
    value = integer(body, "max_results", default, minimum=1)
    if value is None:
        return default
    if value > _MAX_SEARCH:
        raise invalid("max_results", body.get("max_results"), f"at most {_MAX_SEARCH}")
    return value


def search_experiments(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    view = _view(body, "view_type")
    found: list[dict[str, Any]] = [
        p.experiment(e)
        for e in experiments.list_experiments(ctx, s.ListExperiments(view=view)).experiments
    ]
    if view != "deleted" and experiments.default_experiment_id(ctx) is None:
        found.append(dict(_DEFAULT_UNCREATED))
    name_filter = text(body, "filter", required=False)
    if name_filter:
        found = [e for e in found if _experiment_matches(e, name_filter)]
    order_by = strings(body, "order_by")
    if order_by:
        found = _ordered_experiments(found, order_by)
    limit = _max_results(body, 1000)
    token = text(body, "page_token", required=False)
    offset = 0
    if token is not None:
        if not token.isdigit() or len(token) > 10:
            raise invalid("page_token", token, "a next_page_token from an earlier page")
        offset = int(token)
    answer: dict[str, Any] = {"experiments": found[offset : offset + limit]}
    if offset + limit < len(found):
        answer["next_page_token"] = str(offset + limit)
    return answer


_EXPERIMENT_ORDER = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}


def _ordered_experiments(found: list[dict[str, Any]], order_by: list[str]) -> list[dict[str, Any]]:
    """MLflow's ``order_by`` for experiments: attributes, ASC (default) or DESC, in turn."""
    for clause in reversed(order_by):  # stable sorts, last key first
        words = clause.split()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if not 1 <= len(words) <= 2 or direction not in ("ASC", "DESC"):
            raise invalid("order_by", clause, "an attribute, then ASC or DESC")
        field = words[0].split(".", 1)[-1] if words[0].startswith("attribute") else words[0]
        column = _EXPERIMENT_ORDER.get(field)
        if column is None:
            raise invalid("order_by", clause, f"one of {', '.join(_EXPERIMENT_ORDER)}")
        descending = direction == "DESC"

        def key(e: dict[str, Any], column: str = column) -> Any:
            return int(e[column]) if column == "experiment_id" else e[column]

        found = sorted(found, key=key, reverse=descending)
    return found


def _experiment_matches(exp: dict[str, Any], text: str) -> bool:
    """MLflow's experiment filter: ``name`` or ``tag.<key>`` with = / != / LIKE / ILIKE,
    clauses joined by AND (the forms clients send)."""
    import re

    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        if not _experiment_clause(exp, clause, text):
            return False
    return True


def _experiment_clause(exp: dict[str, Any], clause: str, whole: str) -> bool:
    import fnmatch

    for op in (" ILIKE ", " LIKE ", " != ", " = "):
        field, sep, value = clause.partition(op)
        if not sep:
            continue
        field = field.strip().strip("`")
        if field.lower() in ("name", "attribute.name", "attributes.name"):
            actual: str | None = exp["name"]
        elif field.lower().startswith(("tag.", "tags.")):
            key = field.split(".", 1)[1].strip('`"')
            actual = next((t["value"] for t in exp["tags"] if t["key"] == key), None)
        else:
            break
        wanted = value.strip().strip("'\"")
        if actual is None:
            return False
        if op.strip() in ("LIKE", "ILIKE"):
            pattern = wanted.replace("%", "*").replace("_", "?")
            if op.strip() == "ILIKE":
                return fnmatch.fnmatch(actual.lower(), pattern.lower())
            return fnmatch.fnmatchcase(actual, pattern)
        return (actual == wanted) == (op.strip() == "=")
    raise invalid("filter", whole, "name or tag.<key> compared with =, !=, LIKE or ILIKE")


def set_experiment_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = s.SetExperimentTag(
        experiment_id=text(body, "experiment_id") or "",
        key=text(body, "key") or "",
        value=value_text(body, "value"),
    )
    experiments.set_experiment_tag(ctx, req)
    return {}


def update_experiment(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Rename (MLflow's only experiment update)."""
    req = s.RenameExperiment(
        experiment_id=text(body, "experiment_id") or "", new_name=text(body, "new_name") or ""
    )
    experiments.rename_experiment(ctx, req)
    return {}


def delete_experiment_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    req = s.DeleteExperimentTag(
        experiment_id=text(body, "experiment_id") or "", key=text(body, "key") or ""
    )
    experiments.delete_experiment_tag(ctx, req)
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


def _known_parent(ctx: Context, parent: str | None) -> str | None:
    """The ``mlflow.parentRunId`` tag's run when it exists. MLflow does not check the tag,
    so a parent it names that is unknown stays a tag only (mloop's parent link needs a run)."""
    if not parent or len(parent) > 32 or not parent.isalnum():
        return None
    try:
        runs.load_run_row(ctx, parent)
    except NotFoundError:
        return None
    return parent


def create_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    tags = dict(pairs(body, "tags"))
    req = s.CreateRun(
        experiment_id=_experiment_id(ctx, text(body, "experiment_id", required=False)),
        run_name=text(body, "run_name", required=False) or tags.get("mlflow.runName"),
        start_time=integer(body, "start_time"),
        tags=tags,
        parent_run_id=_known_parent(ctx, tags.get("mlflow.parentRunId")),
        user_id=text(body, "user_id", required=False),
    )
    created = runs.create_run(ctx, req)
    # A new run holds only its info and tags: the answer is built from what was written
    # rather than read back (five queries on the hot path of every MLflow script).
    info = created.info
    parts = runs.RunParts(
        rows={info.run_id: info},
        params={info.run_id: {}},
        tags={info.run_id: dict(sorted(created.data.tags.items()))},  # as read back
        metrics={info.run_id: []},
        inputs={info.run_id: []},
    )
    return {"run": p.run(parts, info.run_id)}


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
    view = _view(body, "run_view_type")
    req = s.SearchRuns(
        experiment_ids=[_read_experiment_id(ctx, e) for e in strings(body, "experiment_ids")],
        filter=text(body, "filter", required=False) or "",
        order_by=strings(body, "order_by"),
        max_results=_max_results(body, 1000),
        page_token=text(body, "page_token", required=False),
        view=view,
    )
    ids, token = runs.search_run_ids(ctx, req)
    parts = runs.fetch_run_parts(ctx, ids)
    links = run_models.model_links(ctx, ids)
    answer: dict[str, Any] = {"runs": [p.run(parts, run_id, links.get(run_id)) for run_id in ids]}
    if token:
        answer["next_page_token"] = token
    return answer


# -- logging ----------------------------------------------------------------------------


def _metric_columns(metrics: list[Any]) -> s.MetricColumns:
    """MLflow's metric objects as mloop's columnar batch (one validation, not one per metric).

    Key, value and timestamp are required, as MLflow's server requires them. The stock
    client's shape (a string key, a float value, integer timestamp and step) is taken as is;
    anything else goes through the field checks, which word the error."""
    keys, values, steps, timestamps = [], [], [], []
    for i, item in enumerate(metrics):
        if type(item) is dict:
            key, value = item.get("key"), item.get("value")
            timestamp, step = item.get("timestamp"), item.get("step", 0)
            if (
                type(key) is str
                and key
                and type(value) is float
                and type(timestamp) is int
                and type(step) is int
                and INT64_MIN <= timestamp <= INT64_MAX
                and INT64_MIN <= step <= INT64_MAX
            ):
                keys.append(key)
                values.append(value)
                timestamps.append(timestamp)
                steps.append(step)
                continue
        field = f"metrics[{i}]"
        if not isinstance(item, dict):
            raise invalid(field, item, "an object")
        keys.append(text(item, "key", label=f"{field}.key") or "")
        values.append(_metric_value(item, f"{field}.value"))
        if item.get("timestamp") is None:
            raise missing(f"{field}.timestamp")
        timestamps.append(integer(item, "timestamp", label=f"{field}.timestamp") or 0)
        steps.append(integer(item, "step", 0, label=f"{field}.step") or 0)
    return s.MetricColumns(keys=keys, values=values, steps=steps, timestamps=timestamps)


def _metric_value(item: dict[str, Any], where: str) -> float:
    value = item.get("value")
    if value is None:
        raise missing(where)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(where, value, "a number")
    try:
        return float(value)  # protobuf JSON sends "NaN" and "Infinity" as strings
    except ValueError as exc:
        raise invalid(where, value, "a number") from exc


def log_batch(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    metrics = items(body, "metrics")
    params = pairs(body, "params")
    tags = pairs(body, "tags")
    if len(metrics) > p.MAX_METRICS_PER_BATCH:
        raise ValidationError(
            f"A batch logging request can contain at most {p.MAX_METRICS_PER_BATCH} metrics. "
            f"Got {len(metrics)} metrics. Split them across several requests.",
            field="metrics",
        )
    for name, given in (("params", params), ("tags", tags)):
        if len(given) > p.MAX_PARAMS_TAGS_PER_BATCH:
            raise ValidationError(
                f"A batch logging request can contain at most {p.MAX_PARAMS_TAGS_PER_BATCH} "
                f"{name}. Got {len(given)} {name}. Split them across several requests.",
                field=name,
            )
    if len(metrics) + len(params) + len(tags) > p.MAX_ENTITIES_PER_BATCH:
        raise ValidationError(
            f"A batch logging request can contain at most {p.MAX_ENTITIES_PER_BATCH} "
            f"metrics, params, and tags. Got {len(metrics) + len(params) + len(tags)} "
            "metrics, params, and tags. Split them across several requests.",
            field="metrics",
        )
    req = s.LogBatch(
        run_id=_run_id(body),
        metric_columns=_metric_columns(metrics) if metrics else None,
        params=[s.ParamIn(key=k, value=v) for k, v in params],
        tags=[s.TagIn(key=k, value=v) for k, v in tags],
    )
    ingest.log_batch(ctx, req)
    # Metrics that name a logged model are also that model's (MLflow 3), in this transaction.
    if any(m.get("model_id") for m in metrics):
        logged_models.record_model_metrics(ctx, req.run_id, metrics)
    return {}


def log_metric(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """One metric; its fields are named as MLflow names them (``key``, not ``metrics[0].key``)."""
    run_id = _run_id(body)
    metric = {"key": text(body, "key"), "value": _metric_value(body, "value")}
    if body.get("timestamp") is None:
        raise missing("timestamp")
    metric["timestamp"] = integer(body, "timestamp")
    metric["step"] = integer(body, "step", 0)
    model_id = text(body, "model_id", required=False)
    if model_id:
        metric["model_id"] = model_id
        # The dataset the value was measured on, kept with the model's metric.
        for name in ("dataset_name", "dataset_digest"):
            value = text(body, name, required=False)
            if value:
                metric[name] = value
    return log_batch(ctx, {"run_id": run_id, "metrics": [metric]})


def log_param(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    run_id = _run_id(body)
    pair = {"key": text(body, "key"), "value": value_text(body, "value")}
    return log_batch(ctx, {"run_id": run_id, "params": [pair]})


def set_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    run_id = _run_id(body)
    pair = {"key": text(body, "key"), "value": value_text(body, "value")}
    return log_batch(ctx, {"run_id": run_id, "tags": [pair]})


def delete_tag(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    ingest.delete_tag(ctx, s.DeleteTag(run_id=_run_id(body), key=text(body, "key") or ""))
    return {}


def _dataset_input(item: dict[str, Any], field: str) -> s.DatasetInput:
    """One of MLflow's ``DatasetInput`` objects; errors name the field inside the list."""
    where = f"{field}.dataset"
    dataset = obj(item, "dataset", label=where)
    tags = dict(pairs(item, "tags", label=f"{field}.tags"))  # insertion order: as logged

    def field_text(name: str, *, required: bool = False) -> str:
        return text(dataset, name, required=required, label=f"{where}.{name}") or ""

    return s.DatasetInput(
        name=field_text("name", required=True),
        digest=field_text("digest"),
        source=field_text("source"),
        source_type=field_text("source_type"),
        context=tags.get("mlflow.data.context") or "training",
        dataset_schema=field_text("schema") or None,
        profile=field_text("profile") or None,
        tags=tags,
    )


def log_inputs(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    run_id = _run_id(body)
    datasets = [
        _dataset_input(item, f"datasets[{i}]") for i, item in enumerate(objects(body, "datasets"))
    ]
    models = [
        text(item, "model_id", label=f"models[{i}].model_id") or ""
        for i, item in enumerate(objects(body, "models"))
    ]
    ingest.log_inputs(ctx, s.LogInputs(run_id=run_id, datasets=datasets))
    run_models.record_model_inputs(ctx, run_id, models)
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


def list_artifacts(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """The direct children of a directory of a run's artifacts (MLflow's tracking listing)."""
    from mloop.tracking import artifacts

    run_id = _run_id(body)
    path = artifact_subpath(body, "path")
    listing = artifacts.list_artifacts(ctx, s.ListArtifacts(run_id=run_id, path=path))
    files = []
    for f in listing.files:
        entry: dict[str, Any] = {"path": f.path, "is_dir": f.is_dir}
        if f.size is not None:
            entry["file_size"] = f.size
        files.append(entry)
    return {"root_uri": f"mlflow-artifacts:/{listing.root_uri}", "files": files}


def _runs(*endpoints: Endpoint) -> list[Endpoint]:
    """Endpoints that name a run, answering "Run with id=... not found" as MLflow does."""
    return [
        Endpoint(e.path, e.method, _mlflow_run_errors(e.handler), e.role, e.quick)
        for e in endpoints
    ]


ENDPOINTS: list[Endpoint] = [
    Endpoint("/experiments/create", "POST", create_experiment, "writer"),
    Endpoint("/experiments/get", "GET", get_experiment, "reader", quick=True),
    Endpoint("/experiments/get-by-name", "GET", get_experiment_by_name, "reader", quick=True),
    Endpoint("/experiments/search", "POST", search_experiments, "reader"),
    Endpoint("/experiments/search", "GET", search_experiments, "reader"),
    Endpoint("/experiments/set-experiment-tag", "POST", set_experiment_tag, "writer", quick=True),
    Endpoint("/experiments/delete", "POST", delete_experiment, "writer"),
    Endpoint("/experiments/restore", "POST", restore_experiment, "writer"),
    Endpoint("/experiments/update", "POST", update_experiment, "writer", quick=True),
    Endpoint(
        "/experiments/delete-experiment-tag", "POST", delete_experiment_tag, "writer", quick=True
    ),
    Endpoint("/runs/create", "POST", create_run, "writer", quick=True),
    *_runs(
        Endpoint("/runs/update", "POST", update_run, "writer", quick=True),
        Endpoint("/runs/get", "GET", get_run, "reader", quick=True),
        Endpoint("/runs/delete", "POST", delete_run, "writer"),
        Endpoint("/runs/restore", "POST", restore_run, "writer"),
    ),
    Endpoint("/runs/search", "POST", search_runs, "reader"),
    *_runs(
        Endpoint("/runs/log-batch", "POST", log_batch, "writer", quick=True),
        Endpoint("/runs/log-metric", "POST", log_metric, "writer", quick=True),
        Endpoint("/runs/log-parameter", "POST", log_param, "writer", quick=True),
        Endpoint("/runs/set-tag", "POST", set_tag, "writer", quick=True),
        Endpoint("/runs/delete-tag", "POST", delete_tag, "writer", quick=True),
        Endpoint("/runs/log-inputs", "POST", log_inputs, "writer"),
        Endpoint("/metrics/get-history", "GET", get_metric_history, "reader"),
        Endpoint("/runs/log-model", "POST", log_model, "writer"),
        Endpoint("/artifacts/list", "GET", list_artifacts, "reader"),
    ),
]
