"""Where a suite runs: the pinned dataset version and a model version, read through one SDK
client (embedded or remote)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.core.errors import MloopError, NotFoundError
from mloop.models.uris import parse_models_uri

if TYPE_CHECKING:
    import pandas as pd

    from mloop.client.client import Client
    from mloop.models.loading import LoadedModel
    from mloop.registry.schemas import ModelVersion


def resolve_model(client: Client, uri: str, field: str) -> ModelVersion:
    """The version ``models:/name/7``, ``models:/name@alias`` or ``models:/name/latest``
    names."""
    parsed = parse_models_uri(uri, field)
    if parsed.alias is not None:
        return client.get_model_version_by_alias(parsed.name, parsed.alias)
    if parsed.latest:
        latest = client.get_registered_model(parsed.name).latest_version
        if latest is None:
            raise NotFoundError(f"{field}: model {parsed.name!r} has no versions", field=field)
        return client.get_model_version(parsed.name, latest)
    return client.get_model_version(parsed.name, int(parsed.version or 0))


def model_dir(client: Client, version: ModelVersion) -> Path:
    """A local copy of the version's files, cached by digest in the client's home."""
    from mloop.models.digest import local_tree_digest

    root = client._backend.home / "cache" / "models"
    root.mkdir(parents=True, exist_ok=True)
    target = root / version.sha256
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        client.download_model_version(version.name, version.version, staging)
        digest = local_tree_digest(staging)
        if digest != version.sha256:
            raise MloopError(
                f"the downloaded files of model {version.name!r} version {version.version} "
                f"have digest {digest}, but the registry recorded {version.sha256}"
            )
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_version(
    client: Client, version: ModelVersion, trusted: bool | Sequence[str]
) -> tuple[LoadedModel, float]:
    """The loaded model (``trusted`` as :func:`mloop.load_model` takes it) and its size in
    MB."""
    from mloop.models.loading import load_model_dir

    path = model_dir(client, version)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    uri = f"models:/{version.name}/{version.version}"
    return load_model_dir(path, trusted=trusted, uri=uri), size / 1e6


def load_rows(client: Client, name: str, version: int, digest: str) -> pd.DataFrame:
    """The suite's dataset version as a DataFrame (downloaded once, checked by digest)."""
    import pyarrow.parquet as pq

    from mloop.client.datasets_fluent import cached_file

    return pq.read_table(cached_file(client, name, version, digest)).to_pandas()


def feature_columns(
    model: LoadedModel,
    frame: pd.DataFrame,
    exclude: set[str],
    fallback: list[str] | None = None,
) -> list[str]:
    """The columns a model reads: its signature's, else scikit-learn's
    ``feature_names_in_`` (a champion and a candidate may read different columns), else
    ``fallback`` (the suite's ``features``), else every column but the target and group."""
    signature = (model.signature or {}).get("inputs") or {}
    if signature.get("type") == "dataframe" and signature.get("columns"):
        return [str(c["name"]) for c in signature["columns"]]
    names: Any = getattr(model.unwrap(), "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if fallback:
        return list(fallback)
    return [str(c) for c in frame.columns if c not in exclude]
