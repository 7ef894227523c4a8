"""Training sets: a retrieval's result registered as a dataset version, with its lineage.

The lineage (the features asked for, the feature service and its version, each view's
version, its source and, for a dataset source, the dataset version read) is stored as the
version's ``source``, ``mloop-features:`` followed by JSON. A run that trains on the
version through ``mloop.get_dataset`` records it as an input, so a model version reaches
its features through its run's inputs; :func:`training_lineage` reads the lineage back.
"""

from __future__ import annotations

import json
from typing import Any

from mloop.core.errors import ValidationError

PREFIX = "mloop-features:"
_MAX_SOURCE = 4096  # what a dataset version's ``source`` holds


def lineage_of(data: Any) -> dict[str, Any] | None:
    """The lineage a retrieval attached to its result (pandas ``attrs`` or Arrow schema
    metadata), or None."""
    from mloop.features.offline.retrieval import LINEAGE_KEY

    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and isinstance(attrs.get(LINEAGE_KEY), dict):
        return dict(attrs[LINEAGE_KEY])
    schema = getattr(data, "schema", None)
    metadata = getattr(schema, "metadata", None) or {}
    raw = metadata.get(LINEAGE_KEY.encode()) if isinstance(metadata, dict) else None
    if raw:
        found: dict[str, Any] = json.loads(raw)
        return found
    return None


def _source_text(lineage: dict[str, Any]) -> str:
    """The lineage as the version's ``source``: whole when it fits, else without the
    per-view details (the service and its version still name them exactly)."""
    text = PREFIX + json.dumps(lineage, separators=(",", ":"), sort_keys=True)
    if len(text) <= _MAX_SOURCE:
        return text
    short = {k: v for k, v in lineage.items() if k not in ("views", "features", "on_demand")}
    short["views"] = [{"name": v["name"], "version": v["version"]} for v in lineage["views"]]
    text = PREFIX + json.dumps(short, separators=(",", ":"), sort_keys=True)
    if len(text) <= _MAX_SOURCE:
        return text
    short["views_omitted"] = len(short.pop("views"))
    return PREFIX + json.dumps(short, separators=(",", ":"), sort_keys=True)


def save_training_set(
    data: Any,
    name: str,
    *,
    lineage: dict[str, Any] | None = None,
    alias: str | None = None,
    description: str | None = None,
) -> Any:
    """Register ``data`` (a result of :func:`get_historical_features`) as a version of
    dataset ``name`` with its lineage, and return the
    :class:`~mloop.client.datasets_fluent.DatasetVersion`.

    The lineage is read from ``data`` (pandas keeps it in ``DataFrame.attrs`` through most
    operations; Arrow in the schema's metadata) unless given; a Polars result has nowhere
    to keep it, so pass ``lineage=`` or use ``get_historical_features(..., save_as=)``.
    Inside a run, the run is recorded as the version's producer.
    """
    import mloop

    found = lineage if lineage is not None else lineage_of(data)
    if found is None:
        raise ValidationError(
            "data carries no feature lineage (it is not a get_historical_features result, "
            "or the lineage was lost on the way): pass lineage=, or save with "
            "get_historical_features(..., save_as=NAME)",
            field="lineage",
        )
    if hasattr(data, "attrs"):  # pandas (the attrs would not survive Parquet anyway)
        from mloop.features.offline.frames import arrow_from_pandas

        data = arrow_from_pandas(data)
    return mloop.register_dataset(
        name, data, alias=alias, description=description, source=_source_text(found)
    )


def training_lineage(version: Any) -> dict[str, Any] | None:
    """The feature lineage of a dataset version (a ``DatasetVersion``, or a reference such
    as ``"name/3"``), or None when it was not saved from a retrieval."""
    if isinstance(version, str):
        from mloop.client import Client
        from mloop.client.datasets_fluent import resolve_version

        source = resolve_version(Client(), version).source
    else:
        source = getattr(version, "source", "") or ""
    if not source.startswith(PREFIX):
        return None
    found: dict[str, Any] = json.loads(source[len(PREFIX) :])
    return found
