"""Inputs opened for streaming scans: every accepted kind of data becomes a ``DataSource``.

A ``DataSource`` knows its Arrow schema and how to give a DuckDB connection a view over the
data (``attach``). Nothing is loaded into pandas:

- pandas DataFrames are converted to an Arrow table (numeric columns without copying; NaN in
  float columns becomes null, as pandas treats it as missing);
- Polars DataFrames via ``to_arrow()`` (no copy);
- Arrow tables and datasets are scanned in place;
- Arrow ``RecordBatchReader`` streams (and anything with ``__arrow_c_stream__``) can only be
  read once, so they are spooled batch by batch to a temporary Parquet file, which is
  removed on ``close()``;
- local Parquet files and directories (hive partitions included) and CSV files are read by
  DuckDB's own readers, which stream over row groups;
- URLs with a scheme (``s3://``, ``gs://``, ``memory://``...) go through fsspec and a
  pyarrow dataset, which DuckDB scans batch by batch.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from mloop.core.errors import NotFoundError, ValidationError

FileFormat = Literal["parquet", "csv"]

SourceLike: TypeAlias = Any
"""What ``open_source`` accepts: a ``DataSource``, pandas or Polars DataFrame, Arrow table,
record batch reader or dataset, or a path or URL to Parquet or CSV data."""

_PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".csv.zst")


class DataSource(ABC):
    """Data that DuckDB can scan as a view, with its Arrow schema."""

    kind: str = "data"

    def __init__(self, schema: pa.Schema, description: str) -> None:
        _check_column_names(schema)
        self.schema = schema
        self.description = description

    @abstractmethod
    def attach(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        """Create the view ``view`` over the data on ``con``."""

    def local_paths(self) -> list[str]:
        """Local files DuckDB reads directly (allowed while external access is otherwise off)."""
        return []

    @property
    def num_rows(self) -> int | None:
        """The row count when it is known without a scan."""
        return None

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release temporary files; the source cannot be scanned afterwards."""

    def __enter__(self) -> DataSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class ArrowSource(DataSource):
    """An in-memory Arrow table or a pyarrow dataset (local or on any fsspec filesystem)."""

    kind = "arrow"

    def __init__(self, data: pa.Table | pads.Dataset, description: str) -> None:
        super().__init__(data.schema, description)
        self._data = data

    def attach(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        con.register(view, self._data)

    @property
    def num_rows(self) -> int | None:
        return self._data.num_rows if isinstance(self._data, pa.Table) else None


class FileSource(DataSource):
    """Local Parquet or CSV files read by DuckDB's own (streaming, parallel) readers."""

    kind = "file"

    def __init__(
        self,
        files: list[str],
        fmt: FileFormat,
        schema: pa.Schema,
        description: str,
        *,
        hive: bool = False,
        cleanup_dir: str | None = None,
    ) -> None:
        super().__init__(schema, description)
        self.files = files
        self.format = fmt
        self._hive = hive
        self._cleanup_dir = cleanup_dir

    def attach(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        con.execute(f"CREATE OR REPLACE VIEW {quote_ident(view)} AS SELECT * FROM {self._scan()}")

    def _scan(self) -> str:
        files = "[" + ", ".join(quote_literal(f) for f in self.files) + "]"
        if self.format == "parquet":
            return f"read_parquet({files}, hive_partitioning = {str(self._hive).lower()})"
        return f"read_csv({files}, union_by_name = true)"

    def local_paths(self) -> list[str]:
        return list(self.files)

    def close(self) -> None:
        if self._cleanup_dir is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)
            self._cleanup_dir = None


def open_source(
    data: SourceLike,
    *,
    format: FileFormat | None = None,
    filesystem: Any = None,
) -> DataSource:
    """Open ``data`` for streaming scans.

    ``format`` is needed only when a path's suffix does not say it; ``filesystem`` (an
    fsspec or pyarrow filesystem) reads paths from somewhere other than the local disk.
    A ``DataSource`` passed in is returned as it is. Close the result (or use it as a
    context manager) to remove the spool file a record batch reader needs.
    """
    if isinstance(data, DataSource):
        return data
    if isinstance(data, str | os.PathLike):
        return _open_path(os.fspath(data), format, filesystem)
    if isinstance(data, pa.Table):
        return ArrowSource(data, f"arrow table ({data.num_rows} rows)")
    if isinstance(data, pads.Dataset):
        return ArrowSource(data, "arrow dataset")
    if isinstance(data, pa.RecordBatch):
        return ArrowSource(pa.Table.from_batches([data]), f"arrow batch ({data.num_rows} rows)")
    if _is_pandas(data):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise ValidationError(
                f"the DataFrame cannot be converted to Arrow: {exc}", field="data"
            ) from exc
        return ArrowSource(table, f"pandas DataFrame ({len(data)} rows)")
    if _is_polars(data):
        if not hasattr(data, "to_arrow"):
            raise ValidationError(
                "a Polars LazyFrame must be collected first (df.collect())", field="data"
            )
        table = data.to_arrow()
        return ArrowSource(table, f"polars DataFrame ({table.num_rows} rows)")
    if isinstance(data, pa.RecordBatchReader):
        return _spool(data, "arrow stream")
    if hasattr(data, "__arrow_c_stream__"):
        return _spool(pa.RecordBatchReader.from_stream(data), f"{type(data).__name__} stream")
    raise ValidationError(
        f"cannot read data from a {type(data).__name__}; pass a pandas or Polars DataFrame, "
        "a pyarrow Table, RecordBatchReader or Dataset, or a Parquet or CSV path",
        field="data",
    )


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted: any text is safe as a column name."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _is_pandas(data: object) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _is_polars(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "polars"


def _check_column_names(schema: pa.Schema) -> None:
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise ValidationError(
                f"column names must be unique; {name!r} appears more than once", field="data"
            )
        if "\x00" in name:
            raise ValidationError(f"column name {name!r} contains a NUL byte", field="data")
        seen.add(name)


def _open_path(path: str, fmt: FileFormat | None, filesystem: Any) -> DataSource:
    if filesystem is not None or ("://" in path and not path.startswith("file://")):
        return _open_remote(path, fmt, filesystem)
    path = path.removeprefix("file://")
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"no such file or directory: {path}", field="path")
    if p.is_dir():
        files = _list_dir(p)
        if not files:
            raise ValidationError(f"{path} holds no data files", field="path")
        fmt = fmt or _format_of(files[0])
        files = [f for f in files if _format_of(f, default=fmt) == fmt]
    else:
        files = [str(p.resolve())]
        fmt = fmt or _format_of(files[0])
    if fmt == "parquet":
        return _parquet_files(p, files)
    schema = _csv_schema(files)
    return FileSource(files, "csv", schema, _describe("csv", path, files))


def _parquet_files(p: Path, files: list[str]) -> FileSource:
    if p.is_dir():
        root = p.resolve()
        hive = any("=" in part for f in files for part in Path(f).parent.relative_to(root).parts)
        try:
            dataset = pads.dataset(
                files,
                format="parquet",
                partitioning="hive" if hive else None,
                partition_base_dir=str(root),
            )
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(f"{p} holds unreadable Parquet: {exc}", field="path") from exc
        schema = dataset.schema
    else:
        try:
            schema = pq.read_schema(files[0])
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(
                f"{p} is not a readable Parquet file: {exc}", field="path"
            ) from exc
        hive = False
    return FileSource(files, "parquet", schema, _describe("parquet", str(p), files), hive=hive)


def _csv_schema(files: list[str]) -> pa.Schema:
    con = duckdb.connect()
    try:
        rel = con.sql(
            "SELECT * FROM read_csv($files, union_by_name = true) LIMIT 0", params={"files": files}
        )
        return rel.to_arrow_table().schema
    except duckdb.Error as exc:
        raise ValidationError(f"cannot read CSV {files[0]}: {exc}", field="path") from exc
    finally:
        con.close()


def _open_remote(path: str, fmt: FileFormat | None, filesystem: Any) -> DataSource:
    if filesystem is None:
        import fsspec

        filesystem, path = fsspec.core.url_to_fs(path)
    fmt = fmt or _format_of(path, default="parquet")
    try:
        dataset = pads.dataset(path, format=fmt, filesystem=filesystem, partitioning="hive")
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"cannot open {path}: {exc}", field="path") from exc
    return ArrowSource(dataset, f"{fmt}: {path}")


def _list_dir(root: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if name.startswith((".", "_")):
                continue
            if _format_of(name, default=None) is not None:
                out.append(str(Path(dirpath, name).resolve()))
    return out


def _format_of(name: str, default: FileFormat | Literal["error"] | None = "error") -> Any:
    lower = name.lower()
    if lower.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(_CSV_SUFFIXES):
        return "csv"
    if default == "error":
        raise ValidationError(
            f"cannot tell the format of {name}; pass format='parquet' or format='csv'",
            field="format",
        )
    return default


def _describe(fmt: str, path: str, files: list[str]) -> str:
    return f"{fmt}: {path}" + (f" ({len(files)} files)" if len(files) > 1 else "")


def _spool(reader: pa.RecordBatchReader, what: str) -> FileSource:
    tmp = tempfile.mkdtemp(prefix="mloop-spool-")
    target = os.path.join(tmp, "data.parquet")
    rows = 0
    try:
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileSource([target], "parquet", reader.schema, f"{what} ({rows} rows)", cleanup_dir=tmp)
