"""The stored form of a dataset version: canonical Parquet bytes.

A version is identified by the sha256 of its Parquet file, so the file is written the same
way every time: the same Arrow schema (no schema or field metadata such as pandas', and
``large_string``/``string_view``-style types narrowed to their plain forms, so pandas,
Polars and Arrow inputs of the same data agree), fixed row groups of ``ROW_GROUP_ROWS``
rows whatever the input's batch sizes, zstd compression, dictionary encoding and
statistics on. The same data written by the same pyarrow release gives the same bytes;
another release may write different bytes (its name is in the file), hence a new version.

Input is streamed batch by batch: memory stays around two row groups.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from mloop.core.errors import ValidationError

ROW_GROUP_ROWS = 128 * 1024
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "store_schema": True,
}
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".csv.zst")


@dataclass(frozen=True)
class CanonicalParquet:
    """A dataset written in canonical form."""

    path: Path
    digest: str
    size: int
    row_count: int
    schema: list[dict[str, Any]]
    source: str  # where the data came from, for people (no credentials)


def _is(t: pa.DataType, *names: str) -> bool:
    # View types arrived in pyarrow 16; older releases lack their predicates.
    return any(getattr(pa.types, name, lambda _t: False)(t) for name in names)


def canonical_type(t: pa.DataType) -> pa.DataType:
    """``t`` with large and view variants of strings, binaries and lists narrowed, and
    dictionary indices as int32 (pandas and Polars pick different widths)."""
    if _is(t, "is_large_string", "is_string_view"):
        return pa.string()
    if _is(t, "is_large_binary", "is_binary_view"):
        return pa.binary()
    if _is(t, "is_list", "is_large_list", "is_list_view", "is_large_list_view"):
        return pa.list_(_field(t.value_field))
    if pa.types.is_struct(t):
        return pa.struct([_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_dictionary(t):
        return pa.dictionary(pa.int32(), canonical_type(t.value_type), t.ordered)
    return t


def _field(f: pa.Field) -> pa.Field:
    return pa.field(f.name, canonical_type(f.type), f.nullable)


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_field(f) for f in schema])


def schema_fields(schema: pa.Schema) -> list[dict[str, Any]]:
    """Column name, Arrow type as text and nullability (as ``DatasetProfile.schema``)."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def describe_location(text: str) -> str:
    """A path or URL as it is safe to store: without user name, password or query."""
    if "://" not in text:
        return text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _is_pandas(data: object) -> bool:
    import sys

    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _is_polars(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "polars"


class _Input:
    """The input as a schema and a stream of record batches (and what to close after)."""

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], source: str) -> None:
        self.schema = schema
        self.batches = batches
        self.source = source
        self.closers: list[Any] = []

    def close(self) -> None:
        for closer in self.closers:
            closer()


def _from_table(table: pa.Table, source: str) -> _Input:
    return _Input(table.schema, iter(table.to_batches(max_chunksize=ROW_GROUP_ROWS)), source)


def _from_path(path: str, fmt: str | None) -> _Input:
    from mloop.data.sources import FileSource, open_source

    if "://" in path and not path.startswith("file://"):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        fmt = fmt or ("csv" if inner.lower().endswith(_CSV_SUFFIXES) else "parquet")
        try:
            dataset = pads.dataset(inner, format=fmt, filesystem=fs, partitioning="hive")
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(
                f"cannot open {describe_location(path)}: {exc}", field="data"
            ) from exc
        return _Input(dataset.schema, iter(dataset.to_batches()), describe_location(path))
    formats: dict[str | None, Literal["parquet", "csv"] | None] = {
        None: None,
        "parquet": "parquet",
        "csv": "csv",
    }
    if fmt not in formats:
        raise ValidationError(f"format must be 'parquet' or 'csv', got {fmt!r}", field="format")
    source = open_source(path, format=formats[fmt])  # checks that it exists and what it holds
    assert isinstance(source, FileSource)
    local = Path(path.removeprefix("file://"))
    if source.format == "parquet":
        root = local.resolve() if local.is_dir() else None
        dataset = pads.dataset(
            source.files,
            format="parquet",
            partitioning="hive" if root is not None else None,
            partition_base_dir=str(root) if root is not None else None,
        )
        return _Input(dataset.schema, iter(dataset.to_batches()), str(path))
    # CSV goes through DuckDB's reader, as profiles and validation read it, with the rows
    # kept in file order.
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET preserve_insertion_order = true")
    source.attach(con, "csv_data")
    rel = con.sql("SELECT * FROM csv_data")
    fetch = getattr(rel, "to_arrow_reader", None) or rel.fetch_record_batch
    reader = fetch(ROW_GROUP_ROWS)
    item = _Input(reader.schema, iter(reader), str(path))
    item.closers.append(con.close)
    return item


def open_input(data: Any, fmt: str | None = None) -> _Input:
    """Any input ``register_dataset`` accepts, as a stream of Arrow record batches."""
    if isinstance(data, str | os.PathLike):
        return _from_path(os.fspath(data), fmt)
    if _is_pandas(data):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise ValidationError(
                f"the DataFrame cannot be converted to Arrow: {exc}", field="data"
            ) from exc
        return _from_table(table, f"pandas DataFrame ({len(data)} rows)")
    if _is_polars(data):
        if not hasattr(data, "to_arrow"):
            raise ValidationError(
                "a Polars LazyFrame must be collected first (df.collect())", field="data"
            )
        table = data.to_arrow()
        return _from_table(table, f"polars DataFrame ({table.num_rows} rows)")
    if isinstance(data, pa.Table):
        return _from_table(data, f"arrow table ({data.num_rows} rows)")
    if isinstance(data, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([data]), f"arrow batch ({data.num_rows} rows)")
    if isinstance(data, pads.Dataset):
        return _Input(data.schema, iter(data.to_batches()), "arrow dataset")
    if isinstance(data, pa.RecordBatchReader):
        return _Input(data.schema, iter(data), "arrow stream")
    if hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        return _Input(reader.schema, iter(reader), f"{type(data).__name__} stream")
    raise ValidationError(
        f"cannot register a dataset from a {type(data).__name__}; pass a pandas or Polars "
        "DataFrame, a pyarrow Table, RecordBatchReader or Dataset, or a Parquet or CSV path "
        "or URL",
        field="data",
    )


def _check_names(schema: pa.Schema) -> None:
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise ValidationError(
                f"column names must be unique; {name!r} appears more than once", field="data"
            )
        seen.add(name)
    if not schema.names:
        raise ValidationError("the data has no columns", field="data")


def write_canonical(data: Any, target: Path, *, fmt: str | None = None) -> CanonicalParquet:
    """Write ``data`` to ``target`` as canonical Parquet; returns its digest and shape."""
    item = open_input(data, fmt)
    try:
        _check_names(item.schema)
        schema = canonical_schema(item.schema)
        rows = 0
        pending: list[pa.Table] = []
        pending_rows = 0
        with pq.ParquetWriter(str(target), schema, **WRITER_OPTIONS) as writer:

            def flush(table: pa.Table) -> None:
                table = table.unify_dictionaries().combine_chunks()
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

            for batch in item.batches:
                if batch.num_rows == 0:
                    continue
                try:
                    table = pa.Table.from_batches([batch]).cast(schema)
                except (pa.ArrowException, ValueError) as exc:
                    raise ValidationError(
                        f"a batch of the data does not fit the schema {schema}: {exc}",
                        field="data",
                    ) from exc
                pending.append(table)
                pending_rows += table.num_rows
                rows += table.num_rows
                if pending_rows >= ROW_GROUP_ROWS:
                    whole = pa.concat_tables(pending)
                    cut = (pending_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
                    for start in range(0, cut, ROW_GROUP_ROWS):
                        flush(whole.slice(start, ROW_GROUP_ROWS))
                    rest = whole.slice(cut)
                    pending = [rest] if rest.num_rows else []
                    pending_rows = rest.num_rows
            if pending_rows:
                flush(pa.concat_tables(pending))
    finally:
        item.close()
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return CanonicalParquet(
        path=target,
        digest=digest.hexdigest(),
        size=target.stat().st_size,
        row_count=rows,
        schema=schema_fields(schema),
        source=item.source,
    )
