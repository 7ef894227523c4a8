"""Explicit-object tracking API (like ``mlflow.MlflowClient``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mloop.client.entities import Metric, Param, RunTag
from mloop.client.operations import BaseClient
from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.domains import find_file_route
from mloop.store.artifacts import clean_relative_path
from mloop.tracking import schemas as s

# Remote log_batch requests are split so that each stays well under the body limit.
_BATCH_CHUNK = 20_000


def _columns(metrics: list[Metric | s.MetricIn], default_ts: int) -> s.MetricColumns:
    return s.MetricColumns(
        keys=[m.key for m in metrics],
        values=[m.value for m in metrics],
        steps=[m.step for m in metrics],
        timestamps=[m.timestamp if m.timestamp is not None else default_ts for m in metrics],
    )


def _tree_files(root: Path) -> list[Path]:
    """The regular files under ``root`` in a stable order; raises on the first symlink or
    special file, before anything is uploaded."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            path = Path(dirpath) / name
            if path.is_symlink():
                raise ValidationError(
                    f"{path} is a symbolic link; copy the file it points to instead",
                    field="local_dir",
                )
            if not path.is_file():  # a FIFO or device would block or never end
                raise ValidationError(f"{path} is not a regular file", field="local_dir")
            files.append(path)
    return files


class TrackingClient(BaseClient):
    """Experiments, runs and artifacts, embedded or remote depending on ``tracking_uri``."""

    # -- experiments ----------------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Mapping[str, str] | None = None
    ) -> str:
        result = self.call(
            "create_experiment",
            name=name,
            artifact_location=artifact_location,
            tags=dict(tags or {}),
        )
        return str(result.experiment_id)

    def get_experiment(self, experiment_id: str) -> s.Experiment:
        return self.call("get_experiment", experiment_id=str(experiment_id))

    def get_experiment_by_name(self, name: str) -> s.Experiment:
        return self.call("get_experiment_by_name", name=name)

    def list_experiments(self, view: s.ViewType = "active") -> list[s.Experiment]:
        return list(self.call("list_experiments", view=view).experiments)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.call("set_experiment_tag", experiment_id=str(experiment_id), key=key, value=str(value))

    def delete_experiment(self, experiment_id: str) -> None:
        self.call("delete_experiment", experiment_id=str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.call("restore_experiment", experiment_id=str(experiment_id))

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        run_id: str | None = None,
    ) -> s.Run:
        """Start a run. ``run_id`` keeps an id from elsewhere (32 hex characters, unused)."""
        return self.call(
            "create_run",
            experiment_id=str(experiment_id) if experiment_id is not None else None,
            run_name=run_name,
            tags={k: str(v) for k, v in (tags or {}).items()},
            parent_run_id=parent_run_id,
            start_time=start_time,
            run_id=run_id,
        )

    def get_run(self, run_id: str) -> s.Run:
        return self.call("get_run", run_id=run_id)

    def update_run(
        self, run_id: str, status: s.RunStatus | None = None, name: str | None = None
    ) -> s.RunInfo:
        return self.call("update_run", run_id=run_id, status=status, run_name=name)

    def set_terminated(
        self, run_id: str, status: s.RunStatus = "FINISHED", end_time: int | None = None
    ) -> None:
        """End a run. Metrics still queued for it are sent in the same request."""
        self._backend.metrics.end_run(run_id, status, end_time)

    def delete_run(self, run_id: str) -> None:
        self.call("delete_run", run_id=run_id)

    def restore_run(self, run_id: str) -> None:
        self.call("restore_run", run_id=run_id)

    def search_runs(
        self,
        experiment_ids: Iterable[str] | None = None,
        filter_string: str = "",
        order_by: Iterable[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        view: s.ViewType = "active",
    ) -> s.RunPage:
        """One page of runs; ``page.next_page_token`` fetches the next."""
        return self.call(
            "search_runs",
            experiment_ids=[str(e) for e in experiment_ids or []],
            filter=filter_string or "",
            order_by=list(order_by or []),
            max_results=max_results,
            page_token=page_token,
            view=view,
        )

    def search_all_runs(
        self,
        experiment_ids: Iterable[str] | None = None,
        filter_string: str = "",
        order_by: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[s.Run]:
        """Up to ``limit`` matching runs, following page tokens."""
        found: list[s.Run] = []
        token: str | None = None
        while len(found) < limit:
            page = self.search_runs(
                experiment_ids,
                filter_string,
                order_by,
                max_results=min(1000, limit - len(found)),
                page_token=token,
            )
            found.extend(page.runs)
            token = page.next_page_token
            if not token:
                break
        return found

    # -- logging -------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric | s.MetricIn] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
    ) -> None:
        """Log many values at once, synchronously; big metric lists are sent in chunks.

        Metrics travel as parallel columns, the compact form of the API.
        """
        now = now_ms()
        metric_list = list(metrics)
        param_list = [s.ParamIn(key=p.key, value=str(p.value)) for p in params]
        tag_list = [s.TagIn(key=g.key, value=str(g.value)) for g in tags]
        chunks = [
            metric_list[start : start + _BATCH_CHUNK]
            for start in range(0, len(metric_list), _BATCH_CHUNK)
        ] or [[]]
        for i, chunk in enumerate(chunks):
            self.call(
                "log_batch",
                run_id=run_id,
                metric_columns=_columns(chunk, now) if chunk else None,
                params=param_list if i == 0 else [],
                tags=tag_list if i == 0 else [],
            )

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool = False,
    ) -> None:
        """Log one value. Remote clients queue it and send in the background by default."""
        metric = s.MetricIn(
            key=key,
            value=value,
            timestamp=now_ms() if timestamp is None else timestamp,
            step=step or 0,
        )
        if synchronous:
            self.call("log_batch", run_id=run_id, metric_columns=_columns([metric], 0))
        else:
            self._backend.metrics.add(run_id, [metric])

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.call("log_batch", run_id=run_id, params=[s.ParamIn(key=key, value=str(value))])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.call("set_tag", run_id=run_id, key=key, value=str(value))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.call("delete_tag", run_id=run_id, key=key)

    def log_inputs(self, run_id: str, datasets: Iterable[s.DatasetInput]) -> None:
        self.call("log_inputs", run_id=run_id, datasets=list(datasets))

    def get_metric_history(self, run_id: str, key: str) -> list[s.MetricPoint]:
        """Every value of the metric, in step order: the pages of the history, followed."""
        self.flush()
        points: list[s.MetricPoint] = []
        token: str | None = None
        while True:
            page = self.call("get_metric_history", run_id=run_id, key=key, page_token=token)
            points.extend(page.metrics)
            # Each token points past the page it came with, so this ends.
            if not page.next_page_token or not page.metrics:
                return points
            token = page.next_page_token

    def flush(self) -> None:
        """Wait until metrics queued in the background are stored."""
        self._backend.metrics.flush()

    # -- artifacts -----------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> s.ArtifactFile:
        """Upload one file, to ``artifact_path/<file name>`` inside the run's artifacts."""
        local = Path(local_path)
        if not local.is_file():
            raise ValidationError(f"{local} is not a file", field="local_path")
        dest = f"{artifact_path.rstrip('/')}/{local.name}" if artifact_path else local.name
        return self._upload_artifact(run_id, clean_relative_path(dest, "artifact_path"), local)

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[s.ArtifactFile]:
        """Upload a directory tree, all or nothing: symlinks (refused rather than followed)
        and other files that are not regular are found before the first upload."""
        root = Path(local_dir)
        if not root.is_dir():
            raise ValidationError(f"{root} is not a directory", field="local_dir")
        prefix = clean_relative_path(artifact_path, "artifact_path") if artifact_path else ""
        files = _tree_files(root)
        stored = []
        for path in files:
            rel = path.relative_to(root).as_posix()
            dest = f"{prefix}/{rel}" if prefix else rel
            stored.append(self._upload_artifact(run_id, dest, path))
        return stored

    def list_artifacts(self, run_id: str, path: str = "") -> list[s.ArtifactFile]:
        return list(self.call("list_artifacts", run_id=run_id, path=path).files)

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | Path | None = None
    ) -> Path:
        """Copy a run artifact (file or directory) to a local directory; returns its path."""
        import tempfile

        dest = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mloop-artifacts-"))
        dest.mkdir(parents=True, exist_ok=True)
        path = clean_relative_path(path, allow_empty=True)
        files = self.call("walk_artifacts", run_id=run_id, path=path).files
        if not files:
            raise NotFoundError(f"run {run_id} has no artifact {path!r}", field="path")
        for f in files:
            # Never trust a listed path to stay inside dest.
            rel = clean_relative_path(f.path, "files")
            self._backend.download(
                find_file_route("download_artifact"), {"run_id": run_id, "path": rel}, dest / rel
            )
        return dest / path if path else dest

    def _upload_artifact(self, run_id: str, path: str, local: Path) -> s.ArtifactFile:
        stored: s.ArtifactFile = self._backend.upload(
            find_file_route("upload_artifact"), {"run_id": run_id, "path": path}, local
        )
        return stored
