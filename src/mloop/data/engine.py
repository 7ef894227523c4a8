"""The DuckDB connection profiling and validation run on.

Each call opens its own in-memory connection with a memory limit (DuckDB spills to a private
temporary directory beyond it), a thread count, Parquet prefetching off (so memory stays
flat on wide files with large row groups), and the data attached as one view. Before
any user SQL runs, the connection is locked down: it may read only the source's own files,
Python variables are not visible as tables, and the configuration cannot be changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from mloop.data.sources import DataSource, quote_ident, quote_literal

DEFAULT_MEMORY_LIMIT = "1GB"
VIEW = "__mloop_data"
"""The name of the view over the data; SQL in this package reads ``FROM`` it."""


class Engine:
    """One locked-down DuckDB connection with the data attached as ``VIEW``."""

    def __init__(
        self,
        source: DataSource,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.source = source
        self._tmp = tempfile.mkdtemp(prefix="mloop-duckdb-")
        self.con = duckdb.connect(":memory:")
        try:
            self._configure(memory_limit or DEFAULT_MEMORY_LIMIT, threads or os.cpu_count() or 1)
            source.attach(self.con, VIEW)
            self._lock_down(source.local_paths())
        except BaseException:
            self.close()
            raise

    def _configure(self, memory_limit: str, threads: int) -> None:
        con = self.con
        con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET temp_directory = {quote_literal(self._tmp)}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET python_enable_replacements = false")
        with contextlib.suppress(duckdb.Error):  # a build without ICU has no time zones
            con.execute("SET TimeZone = 'UTC'")
        # Prefetching reads whole row groups of every column at once: with wide files and
        # large row groups (pyarrow writes 1Mi rows) that alone exceeds a small memory limit.
        with contextlib.suppress(duckdb.Error):
            con.execute("SET disable_parquet_prefetching = true")

    def _lock_down(self, paths: Sequence[str]) -> None:
        con = self.con
        if paths:
            listed = ", ".join(quote_literal(p) for p in paths)
            con.execute(f"SET allowed_paths = [{listed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        return self.con.execute(sql, list(params or ())).fetchall()

    def one(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...]:
        """Run a query that returns exactly one row."""
        rows = self.con.execute(sql, list(params or ())).fetchall()  # fetched to the end
        assert len(rows) == 1, sql
        return rows[0]

    def table_rows(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows, converted through Arrow.

        Values of zoned timestamps come back with ``zoneinfo`` time zones; DuckDB's own
        conversion of them would need pytz.
        """
        table = self.con.sql(sql, params=list(params or ())).to_arrow_table()
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(table.column_names), list(zip(*columns, strict=True))

    def reader(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 65_536
    ) -> pa.RecordBatchReader:
        """Stream a query's result as Arrow record batches."""
        rel = self.con.sql(sql, params=list(params or ()))
        fetch = getattr(rel, "to_arrow_reader", None) or rel.fetch_record_batch
        return fetch(batch_size)

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def column(name: str) -> str:
    """A column reference, quoted."""
    return quote_ident(name)
