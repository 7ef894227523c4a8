"""A feature view's rows as a DuckDB relation: its source read, its transformation run,
its columns checked and typed.

Sources: Parquet or CSV files (a path or a glob; ``s3://`` and other URLs through fsspec,
as Arrow datasets DuckDB scans in batches), a registered dataset
version (its Parquet file, from the local cache or downloaded once through the client),
DuckDB SQL, PostgreSQL (read through psycopg into Arrow). A SQL transformation runs over
the source's rows as the relation ``source``; a Python one gets them as a pandas
DataFrame (the whole source in memory) and returns a DataFrame.

:meth:`Reader.view_rows` gives a :class:`ViewRows`: SQL whose columns are the view's join
keys, ``__mloop_ts`` (event time, microseconds since the epoch, UTC), ``__mloop_created``
(the created time likewise, NULL without a created column) and the features asked for,
cast to their declared types. Nothing is read until that SQL runs, except what a Python
transformation needs and the files' schemas.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from mloop.core.errors import MloopError, ValidationError
from mloop.features.catalog import View
from mloop.features.offline.frames import arrow_from_pandas
from mloop.features.offline.postgres import read_postgres
from mloop.features.offline.timestamps import literal, micros_sql, quote
from mloop.features.schemas import SourceSpec

TS = "__mloop_ts"
CREATED = "__mloop_created"

DUCK_TYPES: dict[str, str] = {
    "float64": "DOUBLE",
    "float32": "FLOAT",
    "int64": "BIGINT",
    "int32": "INTEGER",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}
ARROW_TYPES: dict[str, pa.DataType] = {
    "float64": pa.float64(),
    "float32": pa.float32(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".csv.zst", ".txt")
_counter = itertools.count()


@dataclass(frozen=True)
class ViewRows:
    """A view's rows, ready to join (see the module docstring)."""

    view: View
    sql: str
    features: list[str]
    key_types: dict[str, str]  # DuckDB type of each join key
    has_created: bool
    lineage: dict[str, Any] = field(default_factory=dict)  # what was read (dataset versions)


def _owner(view: View) -> str:
    return f"feature view {view.name!r}"


def _strip(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def file_format(path: str, declared: str | None) -> str:
    if declared is not None:
        return declared
    lower = path.lower()
    return "csv" if lower.endswith(_CSV) else "parquet"


class Reader:
    """Reads views' rows into one DuckDB connection (a retrieval or a materialization).

    ``client`` (an :class:`mloop.Client`) reads dataset sources; without one, the default
    client is made when a dataset source is read.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, client: Any = None) -> None:
        self.con = con
        self.client = client

    # -- sources ---------------------------------------------------------------------------

    def _register(self, data: Any, prefix: str) -> str:
        """Register Arrow data (a table, a reader, a dataset) under a fresh name."""
        name = f"__mloop_{prefix}_{next(_counter)}"
        self.con.register(name, data)
        return name

    def _file_sql(self, spec: SourceSpec, owner: str) -> str:
        assert spec.path is not None
        path = spec.path
        if _URL.match(path):
            if not path.lower().startswith("file://"):
                return f"SELECT * FROM {self._remote_files(spec, path, owner)}"
        else:
            path = os.path.expanduser(path)
            if not glob.glob(path, recursive=True):
                raise ValidationError(
                    f"{owner}: source {spec.name!r} reads {spec.path!r}, which matches no file "
                    f"(relative paths are read from {os.getcwd()})",
                    field="source.path",
                )
        if file_format(path, spec.file_format) == "csv":
            return f"SELECT * FROM read_csv({literal(path)}, header = true)"
        return f"SELECT * FROM read_parquet({literal(path)})"

    def _remote_files(self, spec: SourceSpec, path: str, owner: str) -> str:
        """Files at a URL (``s3://bucket/prefix/*.parquet``, or any fsspec protocol) as an
        Arrow dataset DuckDB scans in batches: read through fsspec, as the artifact store
        reads S3 (``MLOOP_S3_ENDPOINT_URL`` for an S3-compatible server), so no DuckDB
        extension is needed and nothing is downloaded but the data."""
        import glob as globbing

        import fsspec
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        from mloop.core.config import get_settings

        protocol = path.split("://", 1)[0].lower()
        options: dict[str, Any] = {}
        endpoint = get_settings().s3_endpoint_url
        if protocol in ("s3", "s3a") and endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        try:
            fs, root = fsspec.core.url_to_fs(path, **options)
            fs.invalidate_cache()  # fsspec keeps listings per instance: files come and go
            if globbing.has_magic(root):
                files = sorted(fs.glob(root))
            else:
                files = [root] if fs.exists(root) else []
        except (ImportError, ValueError) as exc:
            raise ValidationError(
                f"{owner}: source {spec.name!r} reads {path!r}, which this process cannot "
                f"open ({type(exc).__name__}: {exc}); for s3:// install mloop's s3 extra",
                field="source.path",
            ) from exc
        except OSError as exc:
            raise ValidationError(
                f"{owner}: source {spec.name!r} could not list {path!r}: {exc}",
                field="source.path",
            ) from exc
        if not files:
            raise ValidationError(
                f"{owner}: source {spec.name!r} reads {path!r}, which matches no file",
                field="source.path",
            )
        fmt = file_format(path, spec.file_format)
        dataset = ds.dataset(
            files,
            filesystem=PyFileSystem(FSSpecHandler(fs)),
            format="csv" if fmt == "csv" else "parquet",
        )
        return self._register(dataset, "remote")

    def _dataset_sql(self, spec: SourceSpec, owner: str) -> tuple[str, dict[str, Any]]:
        from mloop.client.datasets_fluent import cached_file, resolve_version

        assert spec.dataset is not None
        client = self.client
        if client is None:
            import mloop

            client = self.client = mloop.Client()
        ref = spec.dataset if spec.version is None else f"{spec.dataset}/{spec.version}"
        try:
            info = resolve_version(client, ref)
        except MloopError as exc:
            raise ValidationError(
                f"{owner}: source {spec.name!r} reads dataset {ref!r}: {exc.message}",
                field="source.dataset",
            ) from exc
        path = cached_file(client, info.name, info.version, info.digest)
        lineage = {"dataset": info.name, "dataset_version": info.version, "digest": info.digest}
        return f"SELECT * FROM read_parquet({literal(str(path))})", lineage

    def source_sql(
        self, spec: SourceSpec, owner: str, *, stream: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """SQL of a source's rows, and what it read for lineage."""
        lineage: dict[str, Any] = {"source": spec.name, "kind": spec.kind}
        if spec.kind == "file":
            return self._file_sql(spec, owner), lineage | {"path": spec.path}
        if spec.kind == "dataset":
            sql, found = self._dataset_sql(spec, owner)
            return sql, lineage | found
        assert spec.query is not None
        if spec.kind == "sql":
            return f"SELECT * FROM ({_strip(spec.query)})", lineage
        reader = read_postgres(spec.url_env or "", spec.query, owner)
        data: pa.Table | pa.RecordBatchReader = reader if stream else reader.read_all()
        return f"SELECT * FROM {self._register(data, 'pg')}", lineage

    # -- transforms ------------------------------------------------------------------------

    def _python_rows(self, view: View, source_sql: str) -> str:
        import pandas as pd

        assert view.transform is not None
        owner = _owner(view)
        frame = self.guard(lambda: self.con.sql(source_sql).df(), owner, "source")
        try:
            result = view.transform(frame)
        except Exception as exc:
            raise ValidationError(
                f"{owner}: its transform {getattr(view.transform, '__name__', '')!r} failed: "
                f"{type(exc).__name__}: {exc}",
                field="transform",
            ) from exc
        if not isinstance(result, pd.DataFrame):
            raise ValidationError(
                f"{owner}: its transform must return a pandas DataFrame, not "
                f"{type(result).__name__}",
                field="transform",
            )
        table = arrow_from_pandas(result)
        return f"SELECT * FROM {self._register(table, 'py')}"

    def _rows_sql(self, view: View, source_sql: str) -> str:
        sql = view.transform_sql
        if sql is not None:
            return f"WITH source AS ({source_sql}) SELECT * FROM ({_strip(sql)})"
        if view.transform is not None:
            return self._python_rows(view, source_sql)
        return source_sql

    def guard(self, action: Any, owner: str, what: str) -> Any:
        """Run ``action``; DuckDB errors become validation errors naming ``what``."""
        try:
            return action()
        except duckdb.Error as exc:
            raise ValidationError(f"{owner}: reading its {what} failed: {exc}", field=what) from exc

    # -- the view --------------------------------------------------------------------------

    def view_rows(
        self, view: View, features: list[str] | None = None, *, stream: bool = False
    ) -> ViewRows:
        """The view's rows with ``features`` (all when None); ``stream`` leaves a
        PostgreSQL source as a stream (read once) instead of reading it into memory."""
        owner = _owner(view)
        wanted = list(view.feature_types) if features is None else features
        source_sql, lineage = self.source_sql(view.source, owner, stream=stream)
        what = "transform" if view.transform_sql or view.transform else "source"
        rows_sql = self._rows_sql(view, source_sql)
        relation = self.guard(lambda: self.con.sql(rows_sql), owner, what)
        types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
        source = view.source
        needed = [*view.join_keys, source.timestamp_column, *wanted]
        if source.created_column:
            needed.append(source.created_column)
        missing = [c for c in needed if c not in types]
        if missing:
            after = " after its transform" if what == "transform" else ""
            raise ValidationError(
                f"{owner}: its rows{after} have no column {missing[0]!r} (columns: "
                f"{', '.join(types) or 'none'})",
                field=what,
            )
        ts = source.timestamp_column
        select = [quote(k) for k in view.join_keys]
        select.append(f"{micros_sql(quote(ts), types[ts], owner, ts, 'source.timestamp')} AS {TS}")
        created = source.created_column
        if created:
            micros = micros_sql(quote(created), types[created], owner, created, "source.created")
            select.append(f"{micros} AS {CREATED}")
        else:
            select.append(f"CAST(NULL AS BIGINT) AS {CREATED}")
        dtypes = view.feature_types
        for name in wanted:
            select.append(
                f"{_typed(quote(name), types[name], dtypes[name], owner)} AS {quote(name)}"
            )
        sql = f"SELECT {', '.join(select)} FROM ({rows_sql}) AS __mloop_rows"
        return ViewRows(
            view=view,
            sql=sql,
            features=wanted,
            key_types={k: types[k] for k in view.join_keys},
            has_created=bool(created),
            lineage=lineage,
        )


def _typed(expr: str, duck_type: str, dtype: str, owner: str) -> str:
    """A feature column cast to its declared type (a cast that fails is an error when the
    rows are read, not a silent null)."""
    target = DUCK_TYPES[dtype]
    if duck_type == target:
        return expr
    if dtype == "timestamp":
        micros = micros_sql(expr, duck_type, owner, expr.strip('"'), "features")
        return f"CAST(make_timestamp({micros}) AS TIMESTAMPTZ)"
    return f"CAST({expr} AS {target})"


_NUMBERS = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
)  # fmt: skip


def key_kind(type_text: str) -> str:
    """'number', 'string' or 'other' for a DuckDB type: keys of different kinds never
    match, so joining them is a mistake to report, not an empty result."""
    upper = type_text.upper()
    if upper == "VARCHAR":
        return "string"
    if upper.startswith(_NUMBERS):
        return "number"
    return "other"


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, owner: str) -> pa.Table:
    """Run ``sql`` into Arrow; DuckDB's errors (a cast that fails, a file that cannot be
    read) become validation errors naming the view."""
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise ValidationError(f"{owner}: reading its rows failed: {exc}", field="source") from exc
