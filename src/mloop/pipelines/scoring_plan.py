"""Planning a batch scoring run: the pinned model version and dataset version, the columns
read, and the row range of each partition.

The plan is a JSON dict, so it travels to every partition step as a plain value. It is made
twice with the same function: by ``batch_score`` before the run starts (bad input is refused
there, naming the field) and by the pipeline's first step (a run started another way, by a
trigger or ``run_pipeline``, is checked the same way). Partitions follow the Parquet file's
row groups when there are enough of them, so no row group is read twice; otherwise the rows
are split evenly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.datasets.checks import check_dataset_name, parse_dataset_ref
from mloop.models.uris import parse_models_uri

if TYPE_CHECKING:
    from mloop.client.client import Client
    from mloop.datasets.schemas import DatasetVersion
    from mloop.registry.schemas import ModelVersion

MAX_PARTITIONS = 1024
RESERVED = ("row", "prediction")
"""Columns every output has: the input row's position, and the model's prediction (a
multi-output model's predictions are ``prediction_0``, ``prediction_1``...)."""


def resolve_model(client: Client, model: str) -> ModelVersion:
    """The version ``models:/name/3``, ``models:/name@alias`` or ``models:/name/latest``
    names now (so a run scores one fixed version even if an alias moves meanwhile)."""
    parsed = parse_models_uri(model, "model")
    try:
        if parsed.alias is not None:
            return client.get_model_version_by_alias(parsed.name, parsed.alias)
        if parsed.latest:
            latest = client.get_registered_model(parsed.name).latest_version
            if latest is None:
                raise NotFoundError(f"model {parsed.name!r} has no versions", field="model")
            return client.get_model_version(parsed.name, latest)
        return client.get_model_version(parsed.name, int(parsed.version or 0))
    except NotFoundError as exc:
        raise NotFoundError(f"model {model!r}: {exc}", field="model") from None


def resolve_dataset(client: Client, dataset: str) -> DatasetVersion:
    """The dataset version ``name``, ``name/2`` or ``name@alias`` names now."""
    parsed = parse_dataset_ref(dataset, "dataset")
    try:
        if parsed.alias is not None:
            return client.get_dataset_version_by_alias(
                parsed.name, parsed.alias, include_profile=False
            )
        return client.get_dataset_version(parsed.name, parsed.version, include_profile=False)
    except NotFoundError as exc:
        raise NotFoundError(f"dataset {dataset!r}: {exc}", field="dataset") from None


def _column_list(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError(f"{field} must be a list of column names", field=field)
    names = list(value)
    if not all(isinstance(n, str) and n for n in names):
        raise ValidationError(f"{field} must hold non-empty column names", field=field)
    if len(set(names)) != len(names):
        raise ValidationError(f"{field} names a column more than once", field=field)
    return names


def _signature_columns(version: ModelVersion) -> list[str] | None:
    inputs = (version.signature or {}).get("inputs") or {}
    if inputs.get("type") != "dataframe":
        return None
    names = [c.get("name") for c in inputs.get("columns") or []]
    return names if names and all(isinstance(n, str) for n in names) else None


def row_ranges(rows: int, group_rows: list[int], partitions: int) -> list[list[int]]:
    """``partitions`` consecutive ``[start, end)`` row ranges covering ``rows`` rows: on
    row-group boundaries when there are at least as many row groups, else evenly split."""
    if len(group_rows) >= partitions:
        starts = np.concatenate([[0], np.cumsum(group_rows)])
        # array_split of at least as many groups as parts gives no empty part
        parts = np.array_split(np.arange(len(group_rows)), partitions)
        cuts = [int(starts[part[0]]) for part in parts]
    else:
        cuts = [rows * i // partitions for i in range(partitions)]
    bounds = [*cuts, rows]
    return [[bounds[i], bounds[i + 1]] for i in range(partitions)]


def make_plan(
    client: Client,
    *,
    model: str,
    dataset: str,
    output: str,
    partitions: int,
    columns: list[str] | None = None,
    keep: list[str] | None = None,
    trusted: bool = False,
) -> dict[str, Any]:
    """Check a scoring request and pin what it names; raises errors naming the field.
    The row ranges are added by :func:`with_ranges`, once the version's file is at hand."""
    if not isinstance(model, str):
        raise ValidationError("model must be a models:/ URI", field="model")
    check_dataset_name(output, "output")
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise ValidationError("partitions must be a whole number", field="partitions")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValidationError(
            f"partitions must be from 1 to {MAX_PARTITIONS}, not {partitions}", field="partitions"
        )
    if not isinstance(trusted, bool):
        raise ValidationError("trusted must be true or false", field="trusted")
    wanted = _column_list(columns, "columns")
    kept = _column_list(keep, "keep") or []
    version = resolve_model(client, model)
    data = resolve_dataset(client, dataset)
    if wanted is None:
        wanted = _signature_columns(version)
        if wanted is None:
            raise ValidationError(
                f"model {version.name!r} version {version.version} has no signature naming "
                "its input columns; pass columns=[...]",
                field="columns",
            )
    present = {f.name for f in data.dataset_schema}
    for field, names in (("columns", wanted), ("keep", kept)):
        missing = [n for n in names if n not in present]
        if missing:
            raise ValidationError(
                f"dataset {data.name}/{data.version} has no column {missing[0]!r} (its "
                f"columns: {', '.join(sorted(present)[:20])})",
                field=field,
            )
    clash = [n for n in kept if n in RESERVED or n.startswith("prediction_")]
    if clash:
        raise ValidationError(
            f"keep cannot copy column {clash[0]!r}: the output has its own {clash[0]!r}",
            field="keep",
        )
    if partitions > max(data.row_count, 1):
        raise ValidationError(
            f"partitions ({partitions}) is more than the {data.row_count} rows of "
            f"{data.name}/{data.version}",
            field="partitions",
        )
    return {
        "model": f"models:/{version.name}/{version.version}",
        "model_digest": version.sha256,
        "flavor": version.flavor,
        "dataset": f"{data.name}/{data.version}",
        "dataset_digest": data.digest,
        "output": output,
        "columns": wanted,
        "keep": kept,
        "trusted": trusted,
        "rows": data.row_count,
        "partitions": partitions,
    }


def with_ranges(plan: dict[str, Any], group_rows: list[int]) -> dict[str, Any]:
    """``plan`` with the ``[start, end)`` rows of each partition, given the row count of
    each row group of the version's file."""
    if sum(group_rows) != plan["rows"]:
        raise MloopError(
            f"the file of {plan['dataset']} holds {sum(group_rows)} rows but the registry "
            f"recorded {plan['rows']}"
        )
    return {**plan, "ranges": row_ranges(plan["rows"], group_rows, plan["partitions"])}
