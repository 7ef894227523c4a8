"""The module-level API (``mloop.start_run``, ``mloop.log_metric``...) in MLflow's style.

An active experiment and a stack of active runs are kept per thread; the functions act on
the innermost active run.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mloop.client.client import Client
from mloop.client.entities import Param, RunTag
from mloop.client.source import capture_source
from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.tracking import schemas as s


class _State(threading.local):
    def __init__(self) -> None:
        self.experiment_id: str | None = None
        self.runs: list[ActiveRun] = []


_state = _State()


def _client() -> Client:
    return Client()


class ActiveRun:
    """The value of ``with mloop.start_run() as run``; ends the run on exit."""

    def __init__(self, run: s.Run) -> None:
        self._run = run

    @property
    def info(self) -> s.RunInfo:
        return self._run.info

    @property
    def data(self) -> s.RunData:
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status: s.RunStatus = "FINISHED"
        if exc_type is KeyboardInterrupt:
            status = "KILLED"
        elif exc_type is not None:
            status = "FAILED"
        end_run(status)


def set_experiment(name: str | None = None, experiment_id: str | None = None) -> s.Experiment:
    """Make an experiment active, creating it by name if it does not exist."""
    client = _client()
    if (name is None) == (experiment_id is None):
        raise ValidationError("pass exactly one of name or experiment_id", field="name")
    if experiment_id is not None:
        experiment = client.get_experiment(experiment_id)
    else:
        try:
            experiment = client.get_experiment_by_name(str(name))
        except NotFoundError:
            try:
                client.create_experiment(str(name))
            except MloopError as exc:
                if exc.code != "RESOURCE_ALREADY_EXISTS":
                    raise
            experiment = client.get_experiment_by_name(str(name))
    if experiment.lifecycle_stage != "active":
        raise ValidationError(
            f"experiment {experiment.name!r} is deleted; restore it first", field="name"
        )
    _state.experiment_id = experiment.experiment_id
    return experiment


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    capture_source_info: bool = True,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``; use as a context manager."""
    client = _client()
    if _state.runs and not nested and run_id is None:
        current = _state.runs[-1].info.run_id
        raise ValidationError(
            f"run {current} is already active; end it first or pass nested=True", field="nested"
        )
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise ValidationError(f"run {run_id} is deleted; restore it first", field="run_id")
        client.update_run(run_id, status="RUNNING")
        run = client.get_run(run_id)
    else:
        all_tags = capture_source() if capture_source_info else {}
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        parent = _state.runs[-1].info.run_id if (nested and _state.runs) else None
        run = client.create_run(
            experiment_id=experiment_id or _state.experiment_id,
            run_name=run_name,
            tags=all_tags,
            parent_run_id=parent,
        )
    active = ActiveRun(run)
    _state.runs.append(active)
    return active


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, if any."""
    return _state.runs[-1] if _state.runs else None


def _run_id() -> str:
    if not _state.runs:
        # MLflow starts a run implicitly; so do we, so that quick scripts just work.
        start_run()
    return _state.runs[-1].info.run_id


def end_run(status: s.RunStatus = "FINISHED") -> None:
    """End the innermost active run (after its queued metrics are stored)."""
    if not _state.runs:
        return
    run = _state.runs.pop()
    _client().set_terminated(run.info.run_id, status=status)


def log_param(key: str, value: Any) -> None:
    _client().log_param(_run_id(), key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _client().log_batch(_run_id(), params=[Param(k, str(v)) for k, v in params.items()])


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    _client().log_metric(_run_id(), key, value, timestamp=timestamp, step=step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    client = _client()
    run_id = _run_id()
    ts = now_ms()
    for key, value in metrics.items():
        client.log_metric(run_id, key, value, timestamp=ts, step=step)


def set_tag(key: str, value: Any) -> None:
    _client().set_tag(_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _client().log_batch(_run_id(), tags=[RunTag(k, str(v)) for k, v in tags.items()])


def delete_tag(key: str) -> None:
    _client().delete_tag(_run_id(), key)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    _client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    _client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    """Store ``text`` as the run artifact ``artifact_file`` (a path like ``notes/summary.md``)."""
    if not isinstance(text, str):
        raise ValidationError(f"text must be a str, got {type(text).__name__}", field="text")
    name = Path(artifact_file)
    if not artifact_file or artifact_file.endswith("/") or not name.name:
        raise ValidationError(
            "artifact_file must name a file, e.g. 'config.json'", field="artifact_file"
        )
    parent = str(name.parent) if str(name.parent) != "." else None
    with tempfile.TemporaryDirectory(prefix="mloop-text-") as tmp:
        local = Path(tmp) / name.name
        local.write_text(text, encoding="utf-8")
        log_artifact(local, parent)


def log_dict(dictionary: Mapping[str, Any] | list[Any], artifact_file: str) -> None:
    """Store a dict or list as a JSON (or, for ``.yaml``/``.yml`` files, YAML) run artifact."""
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        log_text(yaml.safe_dump(dictionary, sort_keys=False), artifact_file)
        return
    try:
        text = json.dumps(dictionary, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"the dictionary cannot be written as JSON: {exc}", field="dictionary"
        ) from None
    log_text(text, artifact_file)


def log_input(
    name: str, digest: str, source: str = "", source_type: str = "", context: str = "training"
) -> None:
    """Record that the active run used a dataset (for lineage)."""
    _client().log_inputs(
        _run_id(),
        [
            s.DatasetInput(
                name=name, digest=digest, source=source, source_type=source_type, context=context
            )
        ],
    )


def flush() -> None:
    """Block until metrics queued in the background are stored."""
    _client().flush()


def search_runs(
    experiment_names: list[str] | None = None,
    filter_string: str = "",
    order_by: list[str] | None = None,
    max_results: int = 1000,
    experiment_ids: list[str] | None = None,
) -> list[s.Run]:
    """Runs matching a filter, across all pages up to ``max_results``."""
    client = _client()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        ids.append(client.get_experiment_by_name(name).experiment_id)
    if not ids and _state.experiment_id and not experiment_names:
        ids = [_state.experiment_id]
    return client.search_all_runs(ids, filter_string, order_by, limit=max_results)
