"""Segments: Parquet files of events in the artifact store, and their rows in the index.

A segment holds the events of one source, one partition key and one UTC day, sorted by time,
at ``eventlog/<source>/<key>/<YYYY-MM-DD>/<segment id>.parquet``. Writing one is two steps:
the file is put first (write-then-rename locally, one atomic PUT on S3), then its index row
is inserted; if the insert fails the file is removed. A process killed between the two
leaves a file no reader sees (readers only open what the index lists).
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import and_, select

from mloop.core.errors import ValidationError
from mloop.core.ids import new_id
from mloop.core.timeutil import now_ms
from mloop.store.context import Context
from mloop.store.eventlog.tables import event_log_segments as _segments
from mloop.store.runtime import Runtime

DAY_MS = 86_400_000
ROOT = "eventlog"
# The key of a source whose events have no partition field.
DEFAULT_KEY = "all"
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_DAY_FIELD = "__day"


@dataclass(frozen=True)
class Segment:
    """One row of the segment index."""

    id: str
    source: str
    partition_key: str
    day: str
    path: str
    row_count: int
    min_time: int
    max_time: int
    size_bytes: int
    creation_time: int


def check_source(source: object) -> str:
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise ValidationError(
            f"event log source {source!r} must be 1 to 128 lowercase letters, digits, '.', "
            "'_' or '-', starting with a letter or digit",
            field="source",
        )
    return source


def day_of(time_ms: int) -> str:
    """The UTC day of ``time_ms`` as YYYY-MM-DD."""
    return datetime.datetime.fromtimestamp(time_ms / 1000, datetime.UTC).strftime("%Y-%m-%d")


def new_segment_id() -> str:
    """32 hex digits that sort by creation time (ms, then random): a later segment of the
    same partition and day has a later file name, which breaks ties between labels."""
    return f"{now_ms():012x}{new_id()[:20]}"


def segment_path(source: str, key: str, day: str, segment_id: str) -> str:
    # Quoting keeps any endpoint name one safe path segment, and leaves no glob character
    # (* ? [) for DuckDB to expand.
    return f"{ROOT}/{source}/{quote(key, safe='')}/{day}/{segment_id}.parquet"


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=64 * 1024)
    return buffer.getvalue()


def _groups(
    table: pa.Table, key_field: str | None, time_field: str
) -> list[tuple[str, int, pa.Table]]:
    """The table split by (partition key, UTC day)."""
    days = pc.divide(table[time_field], pa.scalar(DAY_MS, pa.int64()))
    with_day = table.append_column(_DAY_FIELD, days)
    group_fields = [key_field, _DAY_FIELD] if key_field else [_DAY_FIELD]
    groups = with_day.group_by(group_fields).aggregate([]).to_pylist()
    parts = []
    for group in groups:
        mask = pc.equal(with_day[_DAY_FIELD], group[_DAY_FIELD])
        if key_field:
            mask = pc.and_(mask, pc.equal(with_day[key_field], group[key_field]))
        part = with_day.filter(mask).drop_columns([_DAY_FIELD]).sort_by(time_field)
        key = str(group[key_field]) if key_field else DEFAULT_KEY
        parts.append((key, int(group[_DAY_FIELD]), part))
    return parts


def write_segments(
    runtime: Runtime,
    source: str,
    table: pa.Table,
    *,
    key_field: str | None,
    time_field: str = "time",
) -> list[Segment]:
    """Store ``table``'s events as one segment per (key, day) and index them in one
    transaction; on failure no index row exists and the files written are removed."""
    if table.num_rows == 0:
        return []
    created = now_ms()
    written: list[Segment] = []
    try:
        for key, day_number, part in _groups(table, key_field, time_field):
            day = day_of(day_number * DAY_MS)
            segment_id = new_segment_id()
            path = segment_path(source, key, day, segment_id)
            stored = runtime.artifacts.put_bytes(path, _parquet_bytes(part))
            times = part[time_field]
            written.append(
                Segment(
                    id=segment_id,
                    source=source,
                    partition_key=key,
                    day=day,
                    path=path,
                    row_count=part.num_rows,
                    min_time=int(times[0].as_py()),
                    max_time=int(times[-1].as_py()),
                    size_bytes=stored.size,
                    creation_time=created,
                )
            )
        runtime.run(lambda ctx: _insert(ctx, written), write=True, actor="eventlog")
    except BaseException:
        for segment in written:
            runtime.artifacts.remove_tree(segment.path)
        raise
    return written


def _insert(ctx: Context, segments: Sequence[Segment]) -> None:
    ctx.conn.execute(_segments.insert(), [vars(s) for s in segments])


def find_segments(
    runtime: Runtime,
    source: str,
    *,
    keys: Sequence[str] | None = None,
    since: int | None = None,
    until: int | None = None,
) -> list[Segment]:
    """The live segments of ``source`` that may hold events of ``keys`` (all when None)
    with ``since <= time < until`` (ms; open ends when None), oldest first."""
    conditions = [_segments.c.source == source, _segments.c.deletion_time.is_(None)]
    if keys is not None:
        conditions.append(_segments.c.partition_key.in_(list(keys)))
    if since is not None:
        conditions += [_segments.c.max_time >= since, _segments.c.day >= day_of(since)]
    if until is not None:
        conditions += [_segments.c.min_time < until, _segments.c.day <= day_of(until)]
    columns = [_segments.c[name] for name in Segment.__dataclass_fields__]
    query = select(*columns).where(and_(*conditions)).order_by(_segments.c.min_time)

    def load(ctx: Context) -> list[Segment]:
        return [Segment(**row._mapping) for row in ctx.conn.execute(query)]

    return runtime.run(load, write=False)
