"""Copy an MLflow installation into mloop: ``mloop import mlflow --from <source>``.

The reading side is the ``mlflow`` package (an optional extra); the writing side is the mloop
SDK client it is given, so an import into the embedded store and one into a server go through
the same operations as any other client. Nothing here imports the client at run time: the
client is handed in.

What makes a second import a no-op:

- runs keep their MLflow ids; a run that already exists in mloop and carries the tag
  ``mloop.import.source`` is skipped. The tag is set last, so a run whose import was cut off
  is completed on the next import (metric batches carry fixed batch ids, so none is stored
  twice; params, tags, inputs and artifacts are idempotent);
- experiments and registered models are matched by name;
- model versions carry ``mloop.import.source = mlflow:<name>/<version>``;
- an alias already pointing at the mapped version is left alone.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from mloop.compat.mlflow.environment import INSTALL_HINT, mlflow_environment
from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.tracking.schemas import MAX_BATCH_PARAMS, MAX_BATCH_TAGS

if TYPE_CHECKING:
    from mloop.client import Client

IMPORT_TAG = "mloop.import.source"
RUN_MARK = "mlflow"
PARENT_TAG = "mlflow.parentRunId"
KINDS = (
    "experiments",
    "runs",
    "params",
    "tags",
    "metric values",
    "dataset inputs",
    "artifact files",
    "logged models",
    "registered models",
    "model versions",
    "aliases",
)
_PAGE = 1000
_METRIC_CHUNK = 20_000
_CONTEXT_TAG = "mlflow.data.context"
_LOGGED_MODEL_SOURCE = re.compile(r"models:/(m-[0-9a-f]{32})/?")


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportIssue:
    """One item that was not copied: its kind, which one, and why."""

    kind: str
    item: str
    reason: str


@dataclass(frozen=True)
class VersionMapping:
    """Where an MLflow model version landed (mloop numbers versions itself)."""

    name: str
    mlflow_version: int
    mloop_version: int


@dataclass
class ImportSummary:
    """What an import copied, skipped (and why) and could not copy."""

    source: str
    copied: Counter[str] = field(default_factory=Counter)
    skipped: list[ImportIssue] = field(default_factory=list)
    failed: list[ImportIssue] = field(default_factory=list)
    versions: list[VersionMapping] = field(default_factory=list)

    def skip_counts(self) -> list[tuple[str, str, int]]:
        """(kind, reason, count) of the skipped items, in the order first seen."""
        counts = Counter((i.kind, i.reason) for i in self.skipped)
        return [(kind, reason, n) for (kind, reason), n in counts.items()]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``mloop import mlflow --json``."""
        return {
            "source": self.source,
            "copied": {kind: self.copied.get(kind, 0) for kind in KINDS},
            "skipped": [vars(i) for i in self.skipped],
            "failed": [vars(i) for i in self.failed],
            "model_versions": [vars(v) for v in self.versions],
        }


class ImportProgress(Protocol):
    """Progress callbacks: a phase begins with a known number of items, then each is done."""

    def begin(self, title: str, total: int) -> None: ...

    def advance(self, label: str) -> None: ...


class _NoProgress:
    def begin(self, title: str, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass


class _Skip(Exception):
    """Raised inside an item to skip it with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the source --------------------------------------------------------------------------


def _mlruns_error(path: Path) -> MloopError:
    if not path.exists():
        return NotFoundError(
            f"{path} does not exist; pass an mlruns directory or an MLflow tracking URI",
            field="from",
        )
    hint = f"; did you mean {path / 'mlruns'}?" if (path / "mlruns").is_dir() else ""
    return ValidationError(
        f"{path} is not an MLflow mlruns directory: it has no experiment folders "
        f"(<id>/meta.yaml){hint}",
        field="from",
    )


def _check_mlruns(path: Path) -> Path:
    """``path``, resolved, after checking that it looks like MLflow's file store."""
    if path.is_dir() and any((p / "meta.yaml").is_file() for p in path.iterdir()):
        return path.resolve()
    raise _mlruns_error(path)


def _check_sqlite(uri: str) -> str:
    """``uri`` after checking it names an MLflow database.

    MLflow would create a database at a wrong path, or add its tables to another database,
    instead of failing.
    """
    path = Path(unquote(uri.split(":///", 1)[1])) if ":///" in uri else None
    if path is None or not path.is_file():
        raise NotFoundError(
            f"no MLflow database at {uri}: sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db must name an existing file",
            field="from",
        )
    if not _has_mlflow_tables(path):
        raise ValidationError(
            f"{path} is not an MLflow database (it has no MLflow runs table)", field="from"
        )
    return uri


def _has_mlflow_tables(path: Path) -> bool:
    """Whether the SQLite file has MLflow's ``runs`` table (opened read-only)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    except sqlite3.DatabaseError:
        return False
    return "run_uuid" in columns


def resolve_source(source: str) -> str:
    """The MLflow tracking URI for ``--from``: a URI as given, a plain path as a file URI."""
    source = source.strip()
    if not source:
        raise ValidationError("--from must name an MLflow tracking URI or directory", field="from")
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return source.rstrip("/")
    if scheme == "sqlite":
        return _check_sqlite(source)
    if scheme == "file":
        return _check_mlruns(Path(unquote(urlsplit(source).path))).as_uri()
    if "://" in source:  # another store MLflow knows (postgresql://, mysql://, ...)
        return source
    return _check_mlruns(Path(source).expanduser()).as_uri()


def redact(uri: str) -> str:
    """``uri`` without a password, for messages and summaries."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` over ``uri`` for tracking and registry alike."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MloopError(
            f"importing from MLflow needs the mlflow package: {INSTALL_HINT}"
        ) from None
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _paged(fetch: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every item of an MLflow search, following page tokens."""
    items: list[Any] = []
    token = None
    while True:
        page = fetch(page_token=token, **kwargs)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _parents_first(runs: list[Any]) -> list[Any]:
    """``runs`` reordered so that a parent run comes before its children."""
    by_id = {r.info.run_id: r for r in runs}
    ordered: list[Any] = []
    seen: set[str] = set()
    for run in runs:
        chain = []
        current = run
        while current is not None and current.info.run_id not in seen:
            seen.add(current.info.run_id)
            chain.append(current)
            current = by_id.get(current.data.tags.get(PARENT_TAG, ""))
        ordered.extend(reversed(chain))
    return ordered


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batch_id(run_id: str, index: int) -> str:
    """A fixed id for a run's n-th metric batch, so a resumed import stores it once."""
    digest = hashlib.sha256(f"mlflow-import\0{run_id}\0{index}".encode()).hexdigest()
    return f"mlflow-import-{digest[:40]}"


def _version_tag(name: str, version: int | str) -> str:
    return f"mlflow:{name}/{version}"


# -- the import ----------------------------------------------------------------------------


class _Importer:
    """One import: reads with ``source`` (an MlflowClient), writes with ``client``."""

    def __init__(
        self,
        client: Client,
        source: Any,
        uri: str,
        summary: ImportSummary,
        progress: ImportProgress,
        include_deleted: bool,
        workdir: Path,
    ) -> None:
        self.client = client
        self.source = source
        self.uri = uri
        self.summary = summary
        self.progress = progress
        self.include_deleted = include_deleted
        self.workdir = workdir
        self.experiments: dict[str, str] = {}  # MLflow experiment id -> mloop experiment id
        self.present: set[str] = set()  # run ids that exist in mloop
        self.logged_models: dict[str, list[Any]] = {}  # run id -> its READY logged models
        self.deleted_runs: list[str] = []
        self.deleted_experiments: list[str] = []

    # -- bookkeeping ---------------------------------------------------------------------

    def _skip(self, kind: str, item: str, reason: str) -> None:
        self.summary.skipped.append(ImportIssue(kind, item, reason))

    @contextmanager
    def _item(self, kind: str, item: str) -> Iterator[None]:
        """Record a skip or a failure of one item and go on with the next."""
        try:
            yield
        except _Skip as skip:
            self._skip(kind, item, skip.reason)
        except MloopError as exc:
            self.summary.failed.append(ImportIssue(kind, item, exc.message))
        except Exception as exc:
            if not _is_mlflow_error(exc) and not isinstance(exc, OSError):
                raise
            self.summary.failed.append(ImportIssue(kind, item, f"{type(exc).__name__}: {exc}"))

    def run(self) -> None:
        self._import_experiments()
        self._import_runs()
        self._import_models()
        # Last: files of deleted runs can still be registered (with --include-deleted).
        for run_id in self.deleted_runs:
            with self._item("runs", run_id):
                self.client.delete_run(run_id)
        for experiment_id in self.deleted_experiments:
            with self._item("experiments", experiment_id):
                self.client.delete_experiment(experiment_id)

    # -- experiments ---------------------------------------------------------------------

    def _import_experiments(self) -> None:
        from mlflow.entities import ViewType

        found = _paged(self.source.search_experiments, view_type=ViewType.ALL, max_results=_PAGE)
        self.progress.begin("experiments", len(found))
        for experiment in found:
            with self._item("experiments", experiment.name):
                self._experiment(experiment)
            self.progress.advance(experiment.name)

    def _experiment(self, experiment: Any) -> None:
        deleted = experiment.lifecycle_stage == "deleted"
        if deleted and not self.include_deleted:
            raise _Skip("deleted experiment")
        try:
            existing = self.client.get_experiment_by_name(experiment.name)
        except NotFoundError:
            tags = {**experiment.tags, IMPORT_TAG: RUN_MARK}
            new_id = self.client.create_experiment(experiment.name, tags=tags)
            self.experiments[experiment.experiment_id] = new_id
            if deleted:
                self.deleted_experiments.append(new_id)
            self.summary.copied["experiments"] += 1
            return
        if existing.lifecycle_stage != "active" and not deleted:
            raise _Skip("deleted in mloop; restore it there (Client.restore_experiment) first")
        self.experiments[experiment.experiment_id] = existing.experiment_id
        if IMPORT_TAG in existing.tags:
            raise _Skip("already imported")
        self.client.set_experiment_tag(existing.experiment_id, IMPORT_TAG, RUN_MARK)
        raise _Skip("exists in mloop; runs are added to it")

    # -- runs ----------------------------------------------------------------------------

    def _import_runs(self) -> None:
        from mlflow.entities import ViewType

        runs: list[Any] = []
        for experiment_id in self.experiments:
            runs += _paged(
                self.source.search_runs,
                experiment_ids=[experiment_id],
                run_view_type=ViewType.ALL,
                max_results=_PAGE,
                order_by=["attributes.start_time ASC"],
            )
            self._collect_logged_models(experiment_id)
        self.progress.begin("runs", len(runs))
        for run in _parents_first(runs):
            with self._item("runs", run.info.run_id):
                self._run(run)
            self.progress.advance(run.info.run_name or run.info.run_id)

    def _collect_logged_models(self, experiment_id: str) -> None:
        try:
            found = _paged(
                self.source.search_logged_models,
                experiment_ids=[experiment_id],
                max_results=_PAGE,
            )
        except Exception as exc:  # a server or store without logged models (MLflow 2)
            if not _is_mlflow_error(exc):
                raise
            return
        for model in found:
            if str(model.status) == "READY" and model.source_run_id:
                self.logged_models.setdefault(model.source_run_id, []).append(model)

    def _mloop_run(self, run_id: str) -> Any:
        """The run in mloop, or None."""
        try:
            return self.client.get_run(run_id)
        except NotFoundError:
            return None

    def _run(self, run: Any) -> None:
        info = run.info
        deleted = info.lifecycle_stage == "deleted"
        if deleted and not self.include_deleted:
            raise _Skip("deleted run")
        existing = self._mloop_run(info.run_id)
        if existing is not None and IMPORT_TAG in existing.data.tags:
            self.present.add(info.run_id)
            raise _Skip("already imported")
        if existing is None:
            self._create_run(run)
        self.present.add(info.run_id)
        self._copy_run_data(run)
        self._copy_run_files(info.run_id)
        self._finish_run(run)
        self.summary.copied["runs"] += 1
        if deleted:
            self.deleted_runs.append(info.run_id)

    def _create_run(self, run: Any) -> None:
        info = run.info
        parent = run.data.tags.get(PARENT_TAG)
        self.client.call(
            "create_run",
            run_id=info.run_id,
            experiment_id=self.experiments[info.experiment_id],
            run_name=info.run_name or run.data.tags.get("mlflow.runName") or None,
            start_time=info.start_time,
            user_id=info.user_id or None,
            parent_run_id=parent if parent in self.present else None,
        )

    def _copy_run_data(self, run: Any) -> None:
        run_id = run.info.run_id
        params = [{"key": k, "value": v} for k, v in run.data.params.items()]
        tags = [{"key": k, "value": v} for k, v in run.data.tags.items() if k != IMPORT_TAG]
        for chunk in _chunks(params, MAX_BATCH_PARAMS):
            self.client.call("log_batch", run_id=run_id, params=chunk)
        for chunk in _chunks(tags, MAX_BATCH_TAGS):
            self.client.call("log_batch", run_id=run_id, tags=chunk)
        self.summary.copied["params"] += len(params)
        self.summary.copied["tags"] += len(tags)
        self._copy_metrics(run_id, sorted(run.data.metrics))
        self._copy_inputs(run)

    def _copy_metrics(self, run_id: str, keys: list[str]) -> None:
        """Every metric's full history, in batches with fixed ids."""
        points = [m for key in keys for m in self.source.get_metric_history(run_id, key)]
        for index, chunk in enumerate(_chunks(points, _METRIC_CHUNK)):
            columns = {
                "keys": [m.key for m in chunk],
                "values": [float(m.value) for m in chunk],
                "steps": [int(m.step or 0) for m in chunk],
                "timestamps": [int(m.timestamp or 0) for m in chunk],
            }
            self.client.call(
                "log_batch",
                run_id=run_id,
                metric_columns=columns,
                batch_id=_batch_id(run_id, index),
            )
        self.summary.copied["metric values"] += len(points)

    def _copy_inputs(self, run: Any) -> None:
        inputs = getattr(run.inputs, "dataset_inputs", None) or []
        for one in inputs:
            dataset = one.dataset
            context = {t.key: t.value for t in one.tags}.get(_CONTEXT_TAG) or "training"
            with self._item("dataset inputs", f"{run.info.run_id}:{dataset.name}"):
                self.client.call(
                    "log_inputs",
                    run_id=run.info.run_id,
                    datasets=[
                        {
                            "name": dataset.name,
                            "digest": dataset.digest,
                            "source": dataset.source or "",
                            "source_type": dataset.source_type or "",
                            "context": context,
                            "dataset_schema": dataset.schema or None,
                        }
                    ],
                )
                self.summary.copied["dataset inputs"] += 1

    def _copy_run_files(self, run_id: str) -> None:
        """The run's artifacts, then the logged models (MLflow 3) it produced."""
        if self.source.list_artifacts(run_id):
            with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
                local = self.source.download_artifacts(run_id, "", tmp)
                stored = self.client.log_artifacts(run_id, local)
            self.summary.copied["artifact files"] += len(stored)
        for model in self.logged_models.get(run_id, []):
            with self._item("logged models", model.model_id):
                self._copy_logged_model(run_id, model)

    def _finish_run(self, run: Any) -> None:
        info = run.info
        end = info.end_time
        if info.status != "RUNNING" or end is not None:
            if end is not None and info.start_time is not None:
                end = max(end, info.start_time)
            self.client.call("update_run", run_id=info.run_id, status=info.status, end_time=end)
        self.client.set_tag(info.run_id, IMPORT_TAG, RUN_MARK)

    # -- logged models -------------------------------------------------------------------

    def _copy_logged_model(self, run_id: str, model: Any) -> str:
        """Copy a logged model's files into its run's artifacts; the path they are at."""
        path, there = self._logged_model_path(run_id, model)
        if there:
            return path
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            try:
                local = _download(model.artifact_location, tmp, self.uri)
            except Exception as exc:
                if not _is_mlflow_error(exc) and not isinstance(exc, OSError):
                    raise
                raise _Skip(f"files not found at {model.artifact_location}") from None
            if not (Path(local) / "MLmodel").is_file():
                raise _Skip(f"files not found at {model.artifact_location} (no MLmodel file)")
            self._upload_model_dir(run_id, Path(local), path)
        self.summary.copied["logged models"] += 1
        return path

    def _upload_model_dir(self, run_id: str, local: Path, path: str) -> None:
        """Upload a model directory with its MLmodel file last: once that is there, all is."""
        held = Path(tempfile.mkdtemp(dir=self.workdir))
        (local / "MLmodel").rename(held / "MLmodel")
        if any(local.iterdir()):
            self.client.log_artifacts(run_id, local, artifact_path=path)
        self.client.log_artifact(run_id, held / "MLmodel", artifact_path=path)

    def _logged_model_path(self, run_id: str, model: Any) -> tuple[str, bool]:
        """Where the model goes in the run (its name, unless taken), and if it is there."""
        for path in (model.name, f"{model.name}-{model.model_id}"):
            if not self.client.list_artifacts(run_id, path):
                return path, False
            if self._mlmodel_id(run_id, path) == model.model_id:
                return path, True
        raise _Skip(f"{model.name!r} and {model.name}-{model.model_id} are taken in the run")

    def _mlmodel_id(self, run_id: str, path: str) -> str | None:
        """The ``model_id`` in the MLmodel file at ``path`` in the mloop run, if any."""
        import yaml

        names = {f.path for f in self.client.list_artifacts(run_id, path)}
        if f"{path}/MLmodel" not in names:
            return None
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            local = self.client.download_artifacts(run_id, f"{path}/MLmodel", tmp)
            meta = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
        return meta.get("model_id") if isinstance(meta, dict) else None

    # -- registered models ---------------------------------------------------------------

    def _import_models(self) -> None:
        models = _paged(self.source.search_registered_models, max_results=_PAGE)
        versions = {m.name: self._source_versions(m.name) for m in models}
        self.progress.begin("model versions", sum(len(v) for v in versions.values()))
        for model in models:
            with self._item("registered models", model.name):
                self._model(model, versions[model.name])

    def _source_versions(self, name: str) -> list[Any]:
        quoted = "'" + name.replace("'", "\\'") + "'"
        found = _paged(self.source.search_model_versions, filter_string=f"name = {quoted}")
        return sorted(found, key=lambda v: int(v.version))

    def _model(self, model: Any, versions: list[Any]) -> None:
        done = 0
        try:
            self._ensure_model(model)
            mapping = self._imported_versions(model.name)
            for version in versions:
                with self._item("model versions", f"{model.name}/{version.version}"):
                    self._version(version, mapping)
                done += 1
                self.progress.advance(f"{model.name} v{version.version}")
            self._aliases(model, mapping)
        finally:  # a model that failed still completes its share of the bar
            for _ in range(len(versions) - done):
                self.progress.advance(model.name)

    def _ensure_model(self, model: Any) -> None:
        try:
            existing = self.client.get_registered_model(model.name)
        except NotFoundError:
            tags = {**model.tags, IMPORT_TAG: RUN_MARK}
            self.client.create_registered_model(model.name, model.description or None, tags)
            self.summary.copied["registered models"] += 1
            return
        if IMPORT_TAG in existing.tags:
            self._skip("registered models", model.name, "already imported")
            return
        self.client.set_registered_model_tag(model.name, IMPORT_TAG, RUN_MARK)
        self._skip("registered models", model.name, "exists in mloop; versions are added to it")

    def _imported_versions(self, name: str) -> dict[int, int]:
        """MLflow version -> mloop version, for versions imported before."""
        prefix = _version_tag(name, "")
        mapping: dict[int, int] = {}
        token = None
        while True:
            page = self.client.list_model_versions(name, max_results=1000, page_token=token)
            for version in page:
                mark = version.tags.get(IMPORT_TAG, "")
                if mark.startswith(prefix) and mark[len(prefix) :].isdigit():
                    mapping[int(mark[len(prefix) :])] = version.version
            token = page.next_page_token
            if not token:
                return mapping

    def _version(self, version: Any, mapping: dict[int, int]) -> None:
        number = int(version.version)
        if number in mapping:
            raise _Skip("already imported")
        if str(version.status) != "READY":
            raise _Skip(f"status {version.status} in MLflow")
        run_id, path = self._version_source(version)
        tags = {**version.tags, IMPORT_TAG: _version_tag(version.name, number)}
        created = self.client.create_model_version(
            version.name,
            f"runs:/{run_id}/{path}",
            run_id=run_id,
            description=version.description or None,
            tags=tags,
        )
        mapping[number] = created.version
        self.summary.versions.append(VersionMapping(version.name, number, created.version))
        self.summary.copied["model versions"] += 1

    def _version_source(self, version: Any) -> tuple[str, str]:
        """The (run id, artifact path) in mloop holding the version's files."""
        source = version.source or ""
        # MLflow 3 gives the version's logged model; some stores only say so in the source.
        model_id = getattr(version, "model_id", None) or _logged_model_id(source)
        if model_id:
            model = self._logged_model(model_id)
            self._require_run(model.source_run_id)
            return model.source_run_id, self._copy_logged_model(model.source_run_id, model)
        run_id, path = _run_artifact(source, version.run_id)
        self._require_run(run_id)
        if not self.client.list_artifacts(run_id, path):
            raise _Skip(f"version source not found: {source}")
        return run_id, path

    def _logged_model(self, model_id: str) -> Any:
        try:
            model = self.source.get_logged_model(model_id)
        except Exception as exc:
            if not _is_mlflow_error(exc):
                raise
            raise _Skip(f"version source not found: logged model {model_id}") from None
        if not model.source_run_id:
            raise _Skip(f"logged model {model_id} has no source run")
        return model

    def _require_run(self, run_id: str) -> None:
        if run_id in self.present or self._mloop_run(run_id) is not None:
            self.present.add(run_id)
            return
        raise _Skip(f"source run {run_id} was not imported (deleted or missing)")

    def _aliases(self, model: Any, mapping: dict[int, int]) -> None:
        current = self.client.get_registered_model(model.name).aliases
        for alias, version in sorted(model.aliases.items()):
            with self._item("aliases", f"{model.name}@{alias}"):
                target = mapping.get(int(version))
                if target is None:
                    raise _Skip(f"version {version} was not imported")
                if current.get(alias) == target:
                    raise _Skip("already imported")
                if alias in current:
                    raise _Skip(f"exists in mloop and points to version {current[alias]}")
                self.client.set_alias(model.name, alias, target)
                self.summary.copied["aliases"] += 1


def _logged_model_id(source: str) -> str | None:
    """The logged model id in a ``models:/m-<id>`` source, if it is one."""
    match = _LOGGED_MODEL_SOURCE.fullmatch(source)
    return match.group(1) if match else None


def _run_artifact(source: str, run_id: str | None) -> tuple[str, str]:
    """(run id, path) of a version source that lies in a run's artifacts."""
    if source.startswith("runs:/"):
        found_run, _, path = source[len("runs:/") :].partition("/")
        return found_run, path.strip("/")
    marker = f"/{run_id}/artifacts/" if run_id else None
    if marker and marker in source:
        return str(run_id), source.split(marker, 1)[1].strip("/")
    raise _Skip(f"version source not found: {source} is not in a run's artifacts")


def _download(artifact_uri: str, dest: str, tracking_uri: str) -> str:
    from mlflow.artifacts import download_artifacts

    return str(
        download_artifacts(artifact_uri=artifact_uri, dst_path=dest, tracking_uri=tracking_uri)
    )


def _is_mlflow_error(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException)


def import_mlflow(
    client: Client,
    source: str,
    *,
    include_deleted: bool = False,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Copy experiments, runs, artifacts, registered models and aliases from MLflow.

    ``source`` is an http(s) tracking URI, a ``sqlite:///`` or ``file:`` URI, or the path of
    an ``mlruns`` directory. Deleted experiments and runs are skipped unless
    ``include_deleted``; then they are imported and marked deleted in mloop too.
    """
    uri = resolve_source(source)
    summary = ImportSummary(source=redact(uri))
    with mlflow_environment(uri), tempfile.TemporaryDirectory(prefix="mloop-import-") as tmp:
        try:
            importer = _Importer(
                client,
                _mlflow_client(uri),
                uri,
                summary,
                progress or _NoProgress(),
                include_deleted,
                Path(tmp),
            )
            importer.run()
        except MloopError:
            raise
        except Exception as exc:  # MLflow could not open or list the source at all
            if not _is_mlflow_error(exc):
                raise
            raise MloopError(
                f"could not read MLflow at {summary.source}: {getattr(exc, 'message', exc)}. "
                "Items already copied are kept; run the import again once this is fixed"
            ) from None
    return summary
