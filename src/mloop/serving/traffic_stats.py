"""Traffic figures of endpoints, read from the inference log with DuckDB.

Counts, error counts and latency percentiles are computed by DuckDB over just the segments
of the endpoints and time range asked for (the segment index prunes by endpoint and day),
reading only the columns they need; nothing is loaded row by row into Python. Status
``error`` is a variant that failed (the model raised); ``invalid`` is a request the model's
signature refused (the caller's mistake): both are counted, apart. Shadow variants' copies
are records of their own (same request id, the shadow's variant name).

Needs the ``data`` extra (pyarrow, DuckDB), as the inference log does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.store.eventlog import reader as _reader
from mloop.store.eventlog import segments as _segments
from mloop.store.eventlog.inference import INFERENCE_SCHEMA, SOURCE, InferenceLog
from mloop.store.runtime import Runtime

MAX_RECENT = 1000
MAX_BUCKETS = 2000  # points per series a chart gets at most

# One aggregate expression set, shared by the totals and the series.
_FIGURES = (
    "count(*) AS requests, "
    "count(*) FILTER (WHERE status = 'error') AS errors, "
    "count(*) FILTER (WHERE status = 'invalid') AS invalid, "
    "quantile_cont(latency_ms, 0.5) AS p50_ms, "
    "quantile_cont(latency_ms, 0.99) AS p99_ms"
)


@dataclass(frozen=True)
class WindowStats:
    """Figures of one endpoint (or one variant of one time bucket) over a window."""

    requests: int
    errors: int
    invalid: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class BucketStats:
    """One variant's figures in one time bucket (``start`` in ms since the epoch)."""

    start: int
    variant: str
    stats: WindowStats


@dataclass(frozen=True)
class RequestRow:
    """One record of the inference log, without its inputs and outputs."""

    request_id: str
    time: int
    variant: str
    model_name: str
    model_version: int
    status: str
    latency_ms: float
    confidence: float | None
    error: str | None


def _stats(row: dict[str, Any]) -> WindowStats:
    return WindowStats(
        requests=int(row["requests"]),
        errors=int(row["errors"]),
        invalid=int(row["invalid"]),
        p50_ms=row["p50_ms"],
        p99_ms=row["p99_ms"],
    )


def _check_window(since: int, until: int) -> None:
    if since >= until:
        raise ValidationError(
            f"the window's start ({since}) must be before its end ({until})", field="since"
        )


def _query(
    runtime: Runtime,
    endpoints: Sequence[str] | None,
    since: int | None,
    until: int | None,
    sql: str,
    params: dict[str, Any],
) -> pa.Table:
    """``sql`` over the inference segments that can hold events of ``endpoints`` in
    ``[since, until)``; the SQL reads them as ``events`` (already filtered by time)."""

    def plan() -> list[str]:
        found = _segments.find_segments(runtime, SOURCE, keys=endpoints, since=since, until=until)
        return [runtime.artifacts.uri(segment.path) for segment in found]

    def query(con: duckdb.DuckDBPyConnection, files: list[str]) -> pa.Table:
        if not files:
            return pa.table({})
        conditions, values = _reader.time_condition("time", since, until)
        if endpoints is not None:
            conditions.append("list_contains($endpoints, endpoint)")
            values["endpoints"] = list(endpoints)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        events = f"SELECT * FROM {_reader.parquet_relation('files')}{where}"
        return con.sql(
            f"WITH events AS ({events}) {sql}", params={**params, **values, "files": files}
        ).to_arrow_table()

    return _reader.run_query(runtime, plan, query)


def endpoint_totals(
    runtime: Runtime, endpoints: Sequence[str], since: int, until: int
) -> dict[str, WindowStats]:
    """Requests, errors and latency of each endpoint in ``[since, until)`` (ms), counting
    every record (shadow copies included); endpoints without traffic are left out."""
    _check_window(since, until)
    if not endpoints:
        return {}
    table = _query(
        runtime,
        list(endpoints),
        since,
        until,
        f"SELECT endpoint, {_FIGURES} FROM events GROUP BY endpoint",
        {},
    )
    return {row["endpoint"]: _stats(row) for row in table.to_pylist()}


def variant_totals(
    runtime: Runtime, endpoint: str, since: int, until: int
) -> dict[str, WindowStats]:
    """Each variant's figures over ``[since, until)`` (ms), shadow variants included."""
    _check_window(since, until)
    table = _query(
        runtime,
        [endpoint],
        since,
        until,
        f"SELECT variant, {_FIGURES} FROM events GROUP BY variant",
        {},
    )
    return {row["variant"]: _stats(row) for row in table.to_pylist()}


def variant_series(
    runtime: Runtime, endpoint: str, since: int, until: int, bucket_ms: int
) -> list[BucketStats]:
    """Each variant's figures per time bucket of ``bucket_ms`` (buckets start at multiples
    of it, in UTC), oldest first; buckets without requests are left out."""
    _check_window(since, until)
    if bucket_ms < 1000:
        raise ValidationError("bucket_ms must be at least 1000 (a second)", field="bucket_ms")
    if (until - since) // bucket_ms > MAX_BUCKETS:
        raise ValidationError(
            f"the window holds more than {MAX_BUCKETS} buckets: choose longer buckets",
            field="bucket_ms",
        )
    table = _query(
        runtime,
        [endpoint],
        since,
        until,
        f"SELECT time - (time % $bucket) AS start, variant, {_FIGURES} "
        "FROM events GROUP BY start, variant ORDER BY start, variant",
        {"bucket": bucket_ms},
    )
    return [
        BucketStats(start=int(row["start"]), variant=row["variant"], stats=_stats(row))
        for row in table.to_pylist()
    ]


_RECENT_COLUMNS = [f.name for f in INFERENCE_SCHEMA if f.name not in ("inputs", "outputs")]


def recent_requests(
    runtime: Runtime,
    endpoint: str,
    *,
    since: int | None = None,
    until: int | None = None,
    limit: int = 50,
) -> list[RequestRow]:
    """The newest records of ``endpoint`` in ``[since, until)``, newest first."""
    if not 1 <= limit <= MAX_RECENT:
        raise ValidationError(f"limit must be from 1 to {MAX_RECENT}", field="limit")
    columns = ", ".join(_reader.quote_identifier(c) for c in _RECENT_COLUMNS if c != "endpoint")
    table = _query(
        runtime,
        [endpoint],
        since,
        until,
        f"SELECT {columns} FROM events ORDER BY time DESC, request_id LIMIT $limit",
        {"limit": limit},
    )
    return [RequestRow(**row) for row in table.to_pylist()]


def request_records(
    runtime: Runtime,
    endpoint: str,
    request_id: str,
    *,
    since: int | None = None,
    until: int | None = None,
) -> list[dict[str, Any]]:
    """Every record of one request (the answer and any shadow copies), oldest first, with
    the label attached to it (``label``, JSON text, and ``label_time``; None when none).

    ``since``/``until`` narrow the segments searched when the request's time is known.
    """
    log = InferenceLog(runtime)  # reading only: no writer thread starts
    table = log.read_labeled(
        endpoints=[endpoint],
        since=since,
        until=until,
        where="request_id = $request_id",
        params={"request_id": request_id},
    )
    return list(table.to_pylist())
