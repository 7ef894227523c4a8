"""One window of a registered dataset, by event time, as a stream of record batches.

A monitor may watch a dataset instead of an endpoint: a table that grows by new versions
(scored batches, transactions, features computed upstream) with a column of event times.
A window is the rows of the dataset's version (the newest, unless the monitor names one)
whose event time falls in it. The version's Parquet file is read batch by batch with only
the columns the monitor needs, and rows outside the window are filtered out per batch, so
memory stays flat. The batches have the columns of an endpoint's window that apply: the
watched inputs, and ``prediction`` and ``label`` (as JSON text, like the inference log's)
when the monitor names those columns; ``confidence``, ``probabilities`` and ``classes`` are
null.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from mloop.core.errors import ValidationError
from mloop.datasets.files import open_version_file
from mloop.datasets.schemas import GetDatasetVersion
from mloop.datasets.versions import get_dataset_version
from mloop.monitoring.schemas import DatasetTarget
from mloop.store.context import Context

BATCH_ROWS = 65_536
_ARROW = {"number": pa.float64(), "category": pa.string(), "bool": pa.bool_()}


def resolve_version(ctx: Context, target: DatasetTarget) -> tuple[str, int]:
    """The dataset's name as stored and the version a window reads."""
    found = get_dataset_version(
        ctx, GetDatasetVersion(name=target.name, version=target.version, include_profile=False)
    )
    return found.name, found.version


def dataset_columns(ctx: Context, target: DatasetTarget) -> dict[str, str]:
    """The kinds of the dataset's columns a monitor watches by default: every number,
    string and boolean column but the event time, prediction and label."""
    import pyarrow.parquet as pq

    name, version = resolve_version(ctx, target)
    left_out = {target.time_column, target.prediction_column, target.label_column}
    with open_version_file(ctx, name, version) as handle:
        schema = pq.ParquetFile(handle).schema_arrow
    kinds: dict[str, str] = {}
    for field in schema:
        if field.name in left_out:
            continue
        if pa.types.is_boolean(field.type):
            kinds[field.name] = "bool"
        elif pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            kinds[field.name] = "number"
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            kinds[field.name] = "category"
    if not kinds:
        raise ValidationError(
            f"dataset {name!r} version {version} has no number, string or boolean column to "
            "watch besides its event time, prediction and label",
            field="dataset",
        )
    return kinds


def _event_ms(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """Event times as ms since the epoch: timestamps of any unit, or integers (taken as ms)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(pc.cast(column, pa.timestamp("ms", tz=kind.tz)), pa.int64())
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.int64())
    raise ValidationError(
        f"the event time column {name!r} is {kind}; it must be a timestamp or integer ms "
        "since the epoch",
        field="dataset.time_column",
    )


def _as_json_text(column: pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()], pa.string()
    )


@contextmanager
def open_dataset_window(
    ctx: Context,
    target: DatasetTarget,
    *,
    since: int,
    until: int,
    features: Mapping[str, str],
) -> Iterator[pa.RecordBatchReader]:
    """The rows of the dataset's version with ``since <= event time < until``."""
    import pyarrow.parquet as pq

    if until <= since:
        raise ValidationError("until must be after since", field="until")
    name, version = resolve_version(ctx, target)
    with open_version_file(ctx, name, version) as handle:
        parquet = pq.ParquetFile(handle, pre_buffer=False)
        available = set(parquet.schema_arrow.names)
        wanted = [target.time_column, *features]
        outputs = {"prediction": target.prediction_column, "label": target.label_column}
        wanted += [c for c in outputs.values() if c is not None]
        missing = [c for c in dict.fromkeys(wanted) if c not in available]
        if missing:
            raise ValidationError(
                f"dataset {name!r} version {version} has no column {missing[0]!r}",
                field="dataset" if missing[0] not in features else f"columns.{missing[0]}",
            )
        schema = pa.schema(
            [
                *(pa.field(n, _ARROW.get(k, pa.string())) for n, k in features.items()),
                pa.field("prediction", pa.string()),
                pa.field("confidence", pa.float64()),
                pa.field("probabilities", pa.list_(pa.float64())),
                pa.field("classes", pa.string()),
                pa.field("label", pa.string()),
            ]
        )

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in parquet.iter_batches(
                batch_size=BATCH_ROWS, columns=list(dict.fromkeys(wanted))
            ):
                times = _event_ms(batch.column(target.time_column), target.time_column)
                inside = pc.and_(pc.greater_equal(times, since), pc.less(times, until)).fill_null(
                    False
                )
                part = batch.filter(inside)
                if part.num_rows:
                    yield _shaped(part, features, outputs, schema)

        yield pa.RecordBatchReader.from_batches(schema, batches())


def _shaped(
    part: pa.RecordBatch,
    features: Mapping[str, str],
    outputs: Mapping[str, str | None],
    schema: pa.Schema,
) -> pa.RecordBatch:
    rows = part.num_rows
    columns: list[Any] = [
        pc.cast(part.column(n), _ARROW.get(k, pa.string())) for n, k in features.items()
    ]
    for out in ("prediction",):
        source = outputs[out]
        columns.append(
            _as_json_text(part.column(source)) if source else pa.nulls(rows, pa.string())
        )
    columns += [
        pa.nulls(rows, pa.float64()),
        pa.nulls(rows, pa.list_(pa.float64())),
        pa.nulls(rows, pa.string()),
    ]
    source = outputs["label"]
    columns.append(_as_json_text(part.column(source)) if source else pa.nulls(rows, pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
