"""MLflow's JSON shapes (its protobuf messages as JSON), built from mloop's messages."""

from __future__ import annotations

import math
from typing import Any

from mloop.compat.mlflow.run_models import ModelLinks
from mloop.tracking.runs import RunParts
from mloop.tracking.schemas import Experiment, MetricPoint, RunInfo

# MLflow's limits for one log-batch request (mlflow/utils/validation.py).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}


def number(value: float) -> float | str:
    """A float as protobuf JSON writes it: NaN and infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def key_values(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in pairs.items()]


def experiment(exp: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        # As its creator gave it, else where mloop's artifact proxy serves the runs' files.
        "artifact_location": exp.declared_location or f"mlflow-artifacts:/{exp.artifact_location}",
        "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.creation_time,
        "last_update_time": exp.last_update_time,
        "tags": key_values(exp.tags),
    }


def run_info(info: RunInfo) -> dict[str, Any]:
    return _info_json(info.model_dump())


def _info_json(info: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": info["run_id"],
        "run_uuid": info["run_id"],
        "run_name": info["run_name"],
        "experiment_id": info["experiment_id"],
        "user_id": info["user_id"],
        "status": info["status"],
        "start_time": info["start_time"],
        "artifact_uri": f"mlflow-artifacts:/{info['artifact_uri']}",
        "lifecycle_stage": info["lifecycle_stage"],
    }
    if info["end_time"] is not None:
        body["end_time"] = info["end_time"]
    return body


def metric(point: MetricPoint) -> dict[str, Any]:
    return {
        "key": point.key,
        "value": number(point.value),
        "timestamp": point.timestamp,
        "step": point.step,
    }


# mloop's own source tags and their MLflow names, for runs logged with the mloop SDK.
_SOURCE_TAGS = {
    "mloop.source.git.commit": "mlflow.source.git.commit",
    "mloop.source.git.branch": "mlflow.source.git.branch",
    "mloop.source.entry_point": "mlflow.source.name",
    "mloop.source.type": "mlflow.source.type",
}


def _mlflow_tags(info: dict[str, Any], tags: dict[str, str]) -> dict[str, str]:
    """The run's tags plus the system tags MLflow clients read (run name, user, source)."""
    tags = dict(tags)
    tags.setdefault("mlflow.runName", info["run_name"])
    tags.setdefault("mlflow.user", info["user_id"])
    if info["parent_run_id"]:
        tags.setdefault("mlflow.parentRunId", info["parent_run_id"])
    for ours, theirs in _SOURCE_TAGS.items():
        if ours in tags:
            tags.setdefault(theirs, tags[ours])
    return tags


def run(parts: RunParts, run_id: str, models: ModelLinks | None = None) -> dict[str, Any]:
    """MLflow's Run JSON, written straight from fetched rows: search answers hold hundreds.

    ``models`` are the run's links to logged models, if it has any."""
    info = parts.info(run_id)
    body = {
        "info": _info_json(info),
        "data": {
            "metrics": [
                {"key": key, "value": number(value), "timestamp": ts, "step": step}
                for key, value, step, ts in sorted(parts.metrics[run_id])
            ],
            "params": key_values(parts.params[run_id]),
            "tags": key_values(_mlflow_tags(info, parts.tags[run_id])),
        },
        "inputs": {"dataset_inputs": [_dataset_input(d) for d in parts.inputs[run_id]]},
    }
    if models is not None:
        body["inputs"]["model_inputs"] = [{"model_id": m} for m in models.inputs]
        body["outputs"] = {
            "model_outputs": [
                {"model_id": m, "step": step} if step is not None else {"model_id": m}
                for m, step in models.outputs
            ]
        }
    return body


def _dataset_input(d: dict[str, Any]) -> dict[str, Any]:
    dataset = {
        "name": d["name"],
        "digest": d["digest"],
        "source_type": d["source_type"],
        "source": d["source"],
    }
    if d["dataset_schema"]:
        dataset["schema"] = d["dataset_schema"]
    if d.get("profile"):
        dataset["profile"] = d["profile"]
    # Inputs logged before mloop kept their tags have only the context.
    tags = d.get("tags") or {"mlflow.data.context": d["context"]}
    return {"tags": key_values(tags), "dataset": dataset}
