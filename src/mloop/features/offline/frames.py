"""Entity rows in (pandas, Polars, Arrow, a list of dicts) and results out (pandas,
Polars, Arrow), without a pandas round trip on the way through.

Only the columns the join needs (join keys, the timestamp, request columns) are converted
to Arrow; the caller's other columns (labels) are carried to the output as they are.
pandas output types integer and boolean features as pandas' nullable dtypes (``Int64``,
``boolean``), so a missing value stays missing instead of turning the column to floats.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from mloop.core.errors import ValidationError

Output = Literal["pandas", "polars", "arrow"]
OUTPUTS: tuple[str, ...] = ("pandas", "polars", "arrow")


def arrow_from_pandas(frame: Any) -> pa.Table:
    """``pa.Table.from_pandas`` without its index, and without the deprecation warning
    pandas 3.1 raises inside pyarrow's conversion of zoned timestamps (not the caller's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return pa.Table.from_pandas(frame, preserve_index=False)


def _module(value: object) -> str:
    return type(value).__module__.split(".")[0]


@dataclass
class EntityRows:
    """The caller's entity rows: the object given, its columns, and an Arrow table of the
    columns the retrieval reads."""

    original: Any
    kind: Literal["pandas", "polars", "arrow"]
    columns: list[str]
    table: pa.Table  # at least the columns asked for by ``needed``
    count: int

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def request_frame(self, names: list[str]) -> Any:
        """Request columns as a pandas DataFrame (positional index)."""
        if self.kind == "pandas":
            return self.original[names].reset_index(drop=True)
        return self.table.select(names).to_pandas()

    def full_table(self) -> pa.Table:
        """Every column of the entity rows, as Arrow."""
        if self.kind == "pandas":
            return arrow_from_pandas(self.original)
        return self.table


def read_entity_rows(entity_rows: Any, needed: Sequence[str]) -> EntityRows:
    """Accept ``entity_rows`` of any supported kind and check that it has ``needed``
    columns (each given with why it is needed in the error)."""
    if _module(entity_rows) == "pandas" and hasattr(entity_rows, "columns"):
        columns = [str(c) for c in entity_rows.columns]
        if len(set(columns)) != len(columns):
            raise ValidationError("entity_rows has duplicate column names", field="entity_rows")
        _require(columns, needed)
        try:
            table = arrow_from_pandas(entity_rows[list(needed)])
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise ValidationError(
                f"entity_rows cannot be read: {exc}", field="entity_rows"
            ) from exc
        return EntityRows(entity_rows, "pandas", columns, table, len(entity_rows))
    if _module(entity_rows) == "polars" and hasattr(entity_rows, "to_arrow"):
        table = entity_rows.to_arrow()
        kind: Literal["pandas", "polars", "arrow"] = "polars"
    elif isinstance(entity_rows, pa.Table):
        table, kind = entity_rows, "arrow"
    elif isinstance(entity_rows, pa.RecordBatch):
        table, kind = pa.Table.from_batches([entity_rows]), "arrow"
    elif isinstance(entity_rows, Sequence) and not isinstance(entity_rows, str | bytes):
        if not entity_rows:
            raise ValidationError(
                "entity_rows is an empty list; give at least one row (or an empty "
                "DataFrame with the columns)",
                field="entity_rows",
            )
        if not all(isinstance(r, Mapping) for r in entity_rows):
            raise ValidationError(
                "entity_rows as a list must hold one dict per row", field="entity_rows"
            )
        try:
            table = pa.Table.from_pylist([dict(r) for r in entity_rows])
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise ValidationError(
                f"entity_rows cannot be read: {exc}", field="entity_rows"
            ) from exc
        kind = "arrow"
    else:
        raise ValidationError(
            "entity_rows must be a pandas or Polars DataFrame, a pyarrow Table or a list of "
            f"dicts, not {type(entity_rows).__name__}",
            field="entity_rows",
        )
    _require(table.column_names, needed)
    return EntityRows(entity_rows, kind, list(table.column_names), table, table.num_rows)


def _require(columns: Sequence[str], needed: Sequence[str]) -> None:
    for name in needed:
        if name not in columns:
            raise ValidationError(
                f"entity_rows has no column {name!r} (it has: {', '.join(columns) or 'none'})",
                field="entity_rows",
            )


def _pandas_types(arrow_type: pa.DataType) -> Any:
    import pandas as pd

    mapping = {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return mapping.get(arrow_type)


def features_to_pandas(features: pa.Table, index: Any = None) -> Any:
    """Feature columns as a pandas DataFrame (nullable integer and boolean dtypes)."""
    frame = features.to_pandas(types_mapper=_pandas_types)
    if index is not None:
        frame.index = index
    return frame


def assemble(rows: EntityRows, features: pa.Table, output: str) -> Any:
    """The entity rows' columns, then the features, in the form asked for."""
    if output == "pandas":
        import pandas as pd

        if rows.kind == "pandas":
            found = features_to_pandas(features, rows.original.index)
            return pd.concat([rows.original, found], axis=1)
        base = rows.table.to_pandas()
        return pd.concat([base, features_to_pandas(features, base.index)], axis=1)
    combined = rows.full_table()
    for name in features.column_names:
        combined = combined.append_column(name, features.column(name))
    if output == "arrow":
        return combined
    try:
        import polars as pl
    except ImportError as exc:
        raise ValidationError(
            "output='polars' needs Polars: pip install polars", field="output"
        ) from exc
    return pl.from_arrow(combined)
