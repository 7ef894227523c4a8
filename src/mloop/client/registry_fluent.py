"""Module-level registry functions in MLflow's style: register, alias, load.

``mloop.load_model`` accepts ``models:/name/3``, ``models:/name@champion``,
``models:/name/latest``, ``runs:/<run_id>/<path>`` and a local model directory. Downloaded
models are cached under ``MLOOP_HOME/cache/models/<sha256>``, keyed by the content digest and
checked against it, so loading the same version again reads nothing from the store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.client import fluent
from mloop.client.client import Client
from mloop.client.connection import backend_for
from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.models.metadata import ModelMetadata, read_metadata
from mloop.models.uris import MODELS_SCHEME, RUNS_SCHEME, parse_models_uri, parse_runs_uri
from mloop.registry.checks import no_files_message
from mloop.registry.schemas import ModelVersion
from mloop.store.artifacts import clean_relative_path

if TYPE_CHECKING:
    from mloop.models.loading import LoadedModel

Trusted = bool | Sequence[str]


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` logged: where the model is and, if registered, its version."""

    run_id: str
    artifact_path: str
    model_uri: str
    flavor: str
    signature: dict[str, Any] | None
    registered_model_version: ModelVersion | None = None


# -- registering ---------------------------------------------------------------------------


def _log_local_model(local_dir: Path, name: str) -> str:
    """Log a local model directory as the artifacts of a new run; returns its runs:/ URI."""
    nested = fluent.active_run() is not None
    with fluent.start_run(run_name=f"register-{name}"[:256], nested=nested) as run:
        fluent.log_artifacts(local_dir, "model")
        run_id = run.info.run_id
    return f"{RUNS_SCHEME}{run_id}/model"


def _local_dir(model_uri: str | Path, field: str = "model_uri") -> Path:
    text = str(model_uri)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text or text.startswith(MODELS_SCHEME):
        raise ValidationError(
            f"{field} {text!r} is not understood: use runs:/<run_id>/<path>, "
            "models:/<name>/<version>, models:/<name>@<alias> or a local directory",
            field=field,
        )
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ValidationError(f"{field}: {path} is not a directory", field=field)
    return path


def register_model(
    model_uri: str | Path,
    name: str,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register ``runs:/<run_id>/<path>`` or a local model directory as a new version of
    ``name``, creating the registered model on first use.

    A local directory is first logged as the artifacts of a new run ``register-<name>`` in
    the active experiment (or Default), so every version has a source run.
    """
    client = Client()
    is_run_uri = isinstance(model_uri, str) and model_uri.startswith(RUNS_SCHEME)
    if is_run_uri:
        parse_runs_uri(str(model_uri), "model_uri")
    else:
        read_metadata(_local_dir(model_uri))
    created = False
    try:
        client.get_registered_model(name)
    except NotFoundError:
        try:
            client.create_registered_model(name)
            created = True
        except MloopError as exc:  # a concurrent caller created it first
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
    try:
        source = str(model_uri) if is_run_uri else _log_local_model(_local_dir(model_uri), name)
        client.flush()  # metrics still queued for the run are copied onto the version
        return client.create_model_version(name, source, description=description, tags=tags)
    except BaseException:
        if created:  # do not leave behind an empty model this call created
            with contextlib.suppress(MloopError):
                client.delete_registered_model(name)
        raise


def set_alias(name: str, alias: str, version: int | str) -> None:
    """Point ``alias`` (``champion``, ``challenger``...) at a version; moves are logged."""
    Client().set_alias(name, alias, version)


def delete_alias(name: str, alias: str) -> None:
    Client().delete_alias(name, alias)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    return Client().get_model_version_by_alias(name, alias)


# -- downloading and loading ---------------------------------------------------------------


def _cache_root() -> Path:
    root = backend_for().home / "cache" / "models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _into_cache(fill: Callable[[Path], None], expected: str | None) -> Path:
    """Fill a fresh staging directory, check its digest, and move it to ``cache/<digest>``."""
    from mloop.models.digest import local_tree_digest

    root = _cache_root()
    if expected is not None and (root / expected).is_dir():
        return root / expected
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        fill(staging)
        digest = local_tree_digest(staging)
        if expected is not None and digest != expected:
            raise MloopError(
                f"the downloaded model files have digest {digest}, but the registry recorded "
                f"{expected}; the stored copy is damaged or was altered"
            )
        target = root / digest
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another loader cached it first
        return target
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def resolve_model_version(model_uri: str) -> ModelVersion:
    """The version a ``models:/`` URI names."""
    parsed = parse_models_uri(model_uri)
    client = Client()
    if parsed.alias is not None:
        return client.get_model_version_by_alias(parsed.name, parsed.alias)
    if parsed.latest:
        latest = client.get_registered_model(parsed.name).latest_version
        if latest is None:
            raise NotFoundError(f"model {parsed.name!r} has no versions", field="model_uri")
        return client.get_model_version(parsed.name, latest)
    return client.get_model_version(parsed.name, int(parsed.version or 0))


def download_model(model_uri: str | Path) -> Path:
    """A local directory holding the model's files (downloaded and cached when remote)."""
    text = str(model_uri)
    if text.startswith(MODELS_SCHEME):
        version = resolve_model_version(text)
        if not version.sha256:
            # Registered through MLflow's API from a source mloop cannot read: no files.
            raise NotFoundError(
                no_files_message(version.name, version.version, version.source),
                field="model_uri",
            )
        client = Client()
        return _into_cache(
            lambda dest: _download_version(client, version, dest), expected=version.sha256
        )
    if text.startswith(RUNS_SCHEME):
        run_id, path = parse_runs_uri(text, "model_uri")
        client = Client()
        return _into_cache(lambda dest: _download_run_model(client, run_id, path, dest), None)
    return _local_dir(model_uri)


def _download_version(client: Client, version: ModelVersion, dest: Path) -> None:
    client.download_model_version(version.name, version.version, dest)


def _download_run_model(client: Client, run_id: str, path: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".run-") as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        if not local.is_dir():
            raise ValidationError(
                f"runs:/{run_id}/{path} is a file; a model URI must name a model directory",
                field="model_uri",
            )
        for child in local.iterdir():
            shutil.move(str(child), dest / child.name)


def load_model(model_uri: str | Path, trusted: Trusted = False) -> LoadedModel:
    """Load a model for prediction: ``loaded.predict(data)``, ``loaded.metadata``.

    ``trusted``: ``True`` accepts every type in a skops file, allows pickle payloads and runs
    the code of Python and MLflow pyfunc models; a list of type names accepts just those skops
    types. Anything that would run code without that is refused, before it runs, with a
    message naming the model and what would have to be trusted.
    """
    from mloop.models.loading import load_model_dir

    return load_model_dir(download_model(model_uri), trusted=trusted, uri=str(model_uri))


# -- logging (used by the flavor modules) --------------------------------------------------


def log_model_dir(
    save: Callable[[Path], ModelMetadata],
    artifact_path: str,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Save a model with ``save(local_dir)``, log it into the active run, maybe register it."""
    artifact_path = clean_relative_path(artifact_path, "artifact_path")
    with tempfile.TemporaryDirectory(prefix="mloop-model-") as tmp:
        local = Path(tmp) / "model"
        metadata = save(local)
        fluent.log_artifacts(local, artifact_path)
    run = fluent.active_run()
    if run is None:  # pragma: no cover - log_artifacts starts a run when none is active
        raise MloopError("no active run to log the model into")
    model_uri = f"{RUNS_SCHEME}{run.info.run_id}/{artifact_path}"
    version = register_model(model_uri, registered_model_name) if registered_model_name else None
    return ModelInfo(
        run_id=run.info.run_id,
        artifact_path=artifact_path,
        model_uri=model_uri,
        flavor=metadata.flavor,
        signature=metadata.signature,
        registered_model_version=version,
    )
