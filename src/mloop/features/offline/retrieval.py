"""Training data: point-in-time correct features for entity rows (see ``docs/features.md``,
"Training data: point-in-time retrieval").

:func:`get_historical_features` reads each selected view's rows (:mod:`.read`), joins them
to the entity rows point in time (:mod:`.pit`), computes on-demand features from the joined
values and the request columns, and returns the entity rows with the features appended.
Arrow goes in and comes out of DuckDB; the only conversion to pandas is the result's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.core.errors import ValidationError
from mloop.features.catalog import Catalog, OnDemand, Selection
from mloop.features.offline.frames import (
    OUTPUTS,
    EntityRows,
    assemble,
    features_to_pandas,
    read_entity_rows,
)
from mloop.features.offline.pit import ROW, point_in_time
from mloop.features.offline.read import ARROW_TYPES, TS, Reader, ViewRows, key_kind
from mloop.features.offline.timestamps import connect, entity_micros
from mloop.features.registry import resolve_refs

LINEAGE_KEY = "mloop.features"
"""Where a result keeps its lineage: ``DataFrame.attrs`` (pandas) or the schema's metadata
(Arrow); :func:`mloop.features.save_training_set` reads it from there."""

_ENTITIES = "__mloop_entities"


def get_historical_features(
    entity_rows: Any,
    features: Sequence[str] | str,
    *,
    as_known_then: bool = False,
    output: str = "pandas",
    catalog: Catalog | None = None,
    timestamp_column: str = "event_timestamp",
    save_as: str | None = None,
) -> Any:
    """Point-in-time correct feature values for each entity row.

    ``entity_rows``: a pandas or Polars DataFrame, a pyarrow Table or a list of dicts, with
    the join keys of every view read, ``timestamp_column`` (when the features are wanted;
    naive timestamps are UTC, integers are epoch milliseconds) and the request columns of
    on-demand features. ``features``: ``view:feature`` references (``view:*`` for all),
    or a feature service's name (``name`` or ``name:version``).

    Returns one row per entity row, in order (duplicates kept), with its columns and then
    the features. A feature row is eligible when ``entity_ts - ttl <= feature_ts <=
    entity_ts``; the latest wins, ties broken by the latest created time; no eligible row
    gives nulls. ``as_known_then`` also requires ``created <= entity_ts``, so values that
    were backfilled later do not leak into the past (slower: a range join).

    ``output``: "pandas", "polars" or "arrow". ``catalog``: the definitions to read
    (default: the registry's, through ``mloop.Client()``). ``save_as``: register the
    result as a version of that dataset, with its lineage (:func:`save_training_set`).
    """
    if output not in OUTPUTS:
        raise ValidationError(
            f"output must be one of {', '.join(OUTPUTS)}, not {output!r}", field="output"
        )
    if catalog is None:
        import mloop

        catalog = Catalog.from_registry(mloop.Client())
    if not isinstance(features, str):
        _check_names(catalog, list(features))
    selection = catalog.select(features)
    needed = _needed_columns(selection, timestamp_column)
    rows = read_entity_rows(entity_rows, list(needed))
    _check_collisions(rows, selection)
    con = connect()
    try:
        reader = Reader(con, catalog.client)
        entities = _entity_table(rows, selection.join_keys, timestamp_column)
        con.register(_ENTITIES, entities)
        span = _span(entities)
        values: dict[str, pa.ChunkedArray | pa.Array] = {}
        lineage_views = []
        for view, names in selection.views.values():
            found = reader.view_rows(view, names)
            _check_keys(found, entities)
            table = point_in_time(
                con, found, _ENTITIES, rows.count, as_known_then=as_known_then, span=span
            )
            for name in names:
                values[name] = table.column(name)
            lineage_views.append(_view_lineage(found, catalog))
    finally:
        con.close()
    for od, wanted in selection.on_demand:
        values.update(_on_demand(od, wanted, rows, values, selection))
    result_features = pa.table({name: values[name] for name in selection.columns})
    lineage = {
        "features": features if isinstance(features, str) else list(features),
        "service": (
            {"name": selection.service, "version": selection.service_version}
            if selection.service
            else None
        ),
        "views": lineage_views,
        "on_demand": [{"name": od.name, "version": od.version} for od, _ in selection.on_demand],
        "as_known_then": as_known_then,
        "entity_rows": rows.count,
    }
    result = assemble(rows, result_features, output)
    result = _with_lineage(result, lineage, output)
    if save_as is not None:
        from mloop.features.offline.training import save_training_set

        save_training_set(result, save_as, lineage=lineage)
    return result


# -- checks -------------------------------------------------------------------------------


def _check_names(catalog: Catalog, refs: list[str]) -> None:
    """Two views' features of the same name would be one output column: refuse."""
    owners: dict[str, str] = {}
    for _, owner, feature in resolve_refs(refs, catalog.views, catalog.on_demand, "features"):
        if owners.setdefault(feature, owner) != owner:
            raise ValidationError(
                f"features {owners[feature]}:{feature} and {owner}:{feature} would both be "
                f"the output column {feature!r}; ask for one of them",
                field="features",
            )


def _needed_columns(selection: Selection, timestamp_column: str) -> dict[str, str]:
    needed: dict[str, str] = {timestamp_column: "the timestamp column"}
    for view, _ in selection.views.values():
        for key in view.join_keys:
            needed.setdefault(key, f"a join key of feature view {view.name!r}")
    for od, _ in selection.on_demand:
        for name in od.request_columns:
            needed.setdefault(name, f"a request column of on-demand feature {od.name!r}")
    return needed


def _check_collisions(rows: EntityRows, selection: Selection) -> None:
    for name in selection.columns:
        if name in rows.columns:
            raise ValidationError(
                f"entity_rows has a column {name!r}, the name of a feature it asks for; "
                "rename the column",
                field="entity_rows",
            )


def _arrow_key_kind(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or "string_view" in str(kind):
        return "string"
    return "other"


def _check_keys(rows: ViewRows, entities: pa.Table) -> None:
    for key, duck_type in rows.key_types.items():
        mine, theirs = _arrow_key_kind(entities.schema.field(key).type), key_kind(duck_type)
        if mine != theirs and {mine, theirs} <= {"number", "string"}:
            raise ValidationError(
                f"join key {key!r} is {entities.schema.field(key).type} in entity_rows but "
                f"{duck_type} in feature view {rows.view.name!r}; they can never match",
                field="entity_rows",
            )


# -- the steps ----------------------------------------------------------------------------


def _entity_table(rows: EntityRows, keys: list[str], timestamp_column: str) -> pa.Table:
    """Row positions, join keys and event times in microseconds: what DuckDB joins on."""
    # From NumPy: a Python range of 100,000 positions takes milliseconds to convert.
    columns: dict[str, Any] = {ROW: pa.array(np.arange(rows.count, dtype=np.int64))}
    for key in keys:
        column = rows.column(key)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[key] = column
    columns[TS] = entity_micros(rows.column(timestamp_column), timestamp_column)
    return pa.table(columns)


def _span(entities: pa.Table) -> tuple[int, int] | None:
    """The earliest and latest entity times (microseconds), None without rows."""
    if entities.num_rows == 0:
        return None
    low_high = pc.min_max(entities.column(TS))
    return int(low_high["min"].as_py()), int(low_high["max"].as_py())


def _view_lineage(rows: ViewRows, catalog: Catalog) -> dict[str, Any]:
    view = rows.view
    source = dict(rows.lineage)
    source["version"] = catalog.versions.get(f"source:{view.source.name}")
    return {"name": view.name, "version": view.version, "source": source}


def _on_demand(
    od: OnDemand,
    wanted: list[str],
    rows: EntityRows,
    values: dict[str, pa.ChunkedArray | pa.Array],
    selection: Selection,
) -> dict[str, pa.Array]:
    """Run an on-demand feature on the request columns and the joined features it reads."""
    import pandas as pd

    specs = {name: view.spec for name, (view, _) in selection.views.items()}
    inputs = [f for _, _, f in resolve_refs(od.spec.sources, specs, {}, "sources")]
    request = list(od.request_columns)
    frame = rows.request_frame(request) if request else pd.DataFrame(index=range(rows.count))
    if inputs:
        joined = features_to_pandas(pa.table({name: values[name] for name in inputs}))
        frame = pd.concat([frame, joined], axis=1)
    owner = f"on-demand feature {od.name!r}"
    try:
        result = od.function(frame)
    except Exception as exc:
        raise ValidationError(
            f"{owner} failed: {type(exc).__name__}: {exc}", field="features"
        ) from exc
    if not isinstance(result, pd.DataFrame):
        raise ValidationError(
            f"{owner} must return a pandas DataFrame, not {type(result).__name__}",
            field="features",
        )
    if len(result) != rows.count:
        raise ValidationError(
            f"{owner} returned {len(result)} rows for {rows.count} entity rows", field="features"
        )
    dtypes = {f.name: f.dtype for f in od.spec.features}
    out: dict[str, pa.Array] = {}
    for name in wanted:
        if name not in result.columns:
            raise ValidationError(
                f"{owner} returned no column {name!r} (it returned: "
                f"{', '.join(map(str, result.columns))})",
                field="features",
            )
        out[name] = _typed_array(result[name], dtypes[name], owner, name)
    return out


def _typed_array(series: Any, dtype: str, owner: str, name: str) -> pa.Array:
    target = ARROW_TYPES[dtype]
    try:
        array = pa.array(series.reset_index(drop=True), from_pandas=True)
        if array.type != target:
            array = pc.cast(array, target, safe=not pa.types.is_timestamp(target))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise ValidationError(
            f"{owner}: column {name!r} is not {dtype}: {exc}", field="features"
        ) from exc
    return array


def _with_lineage(result: Any, lineage: dict[str, Any], output: str) -> Any:
    if output == "pandas":
        result.attrs[LINEAGE_KEY] = lineage
    elif output == "arrow":
        metadata = dict(result.schema.metadata or {})
        metadata[LINEAGE_KEY.encode()] = json.dumps(lineage).encode()
        result = result.replace_schema_metadata(metadata)
    return result
