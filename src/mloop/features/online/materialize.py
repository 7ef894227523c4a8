"""Materialization: feature views' rows copied from their sources into the online store.

For each online view, the rows with event time in ``[since, until)`` are read with the
offline store's ``read_view_rows`` as a stream of Arrow batches, cut into batches of at
most ``batch_rows`` rows, checked, and reduced to the newest row per key over the whole
read (``_NewestRows``: column-wise in Arrow, no Python work per row read); then only those
rows are written, ``batch_rows`` at a time. Memory is therefore proportional to the
number of distinct keys read, not to the number of rows read: their newest rows as Arrow
columns, and up to as many rows (at least a batch) read since the last merge. The store
keeps a row only if it is at least as new as the one it holds, so running a
materialization twice, or beside pushes, never lets an older value win.

Incremental (the default) reads from the view's watermark, the newest event time
materialized so far (rows at the watermark itself are read again: one that arrived late
with the same time is not lost); a view never materialized, or whose definition changed
version since, is read in full. ``until`` defaults to now, so rows stamped in the future
wait for their time. The watermark and the rows written are recorded in the metadata
database (``record_materialization``), where freshness checks read them.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.catalog import Catalog, View
from mloop.features.online.push import check_key_kinds
from mloop.features.online.rows import checked_rows, checked_table, newest_of_each_key
from mloop.features.online.store import OnlineStore

RowsReader = Callable[..., Any]  # (view, *, since, until) -> pyarrow.RecordBatchReader
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class MaterializeProgress:
    """Where a materialization is: the view, rows read and written so far, and whether
    the view is done (one event per batch read, then one per batch written, then one
    when the view is done)."""

    view: str
    rows_read: int
    rows_written: int
    done: bool = False


@dataclass(frozen=True)
class Materialization:
    """One view's materialization."""

    view: str
    version: int
    full: bool
    since: dt.datetime | None
    until: dt.datetime
    rows_read: int
    rows_written: int
    watermark: dt.datetime | None
    seconds: float


class Watermarks:
    """The watermarks in the metadata database, through a client's operations."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, view: str) -> tuple[int, int | None] | None:
        """(view version, watermark ms) of ``view``'s last materialization, or None."""
        found = self.client.call("list_materializations", view=view).materializations
        return None if not found else (found[0].view_version, found[0].watermark)

    def record(
        self, view: str, version: int, watermark: int | None, rows: int, *, reset: bool = False
    ) -> None:
        self.client.call(
            "record_materialization",
            view=view,
            view_version=version,
            watermark=watermark,
            rows=rows,
            reset=reset,
        )


def utc(value: dt.datetime | str | None, field: str) -> dt.datetime | None:
    """A time given by a caller, as an aware UTC datetime (naive ones are UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{field}: {value!r} is not an ISO 8601 time", field=field
            ) from None
    if not isinstance(value, dt.datetime):
        raise ValidationError(
            f"{field} must be a datetime, got {type(value).__name__}", field=field
        )
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def online_views(catalog: Catalog, names: Sequence[str] | None) -> list[View]:
    """The views to materialize: those named, or every view marked online."""
    if names is None:
        return [catalog.view(n) for n in sorted(catalog.views) if catalog.views[n].online]
    if isinstance(names, str):
        names = [names]
    views = []
    for name in names:
        view = catalog.view(name)
        if not view.spec.online:
            raise ValidationError(
                f"feature view {name!r} is not served online (online=False)", field="views"
            )
        views.append(view)
    return views


def _batches(reader: Iterable[Any], size: int) -> Iterator[Any]:
    for batch in reader:
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)


class _NewestRows:
    """The newest row of each key among the checked tables added (``checked_table``).

    Tables are held as they come until they hold as many rows as the newest rows found so
    far (and at least ``hold_rows``), then merged with them and reduced again: each merge
    sorts at most about twice the rows added since the last, so the work stays
    proportional to the rows read (times a log), and memory to the distinct keys plus
    what is held. Tables are merged in the order added, so of rows equal in event and
    created time the one read last wins, as it would in the store.
    """

    def __init__(self, hold_rows: int) -> None:
        self._hold_rows = hold_rows
        self._newest: Any = None
        self._held: list[Any] = []
        self._held_count = 0

    def add(self, checked: Any) -> None:
        if checked.num_rows == 0:
            return
        self._held.append(checked)
        self._held_count += checked.num_rows
        newest = 0 if self._newest is None else self._newest.num_rows
        if self._held_count >= max(self._hold_rows, newest):
            self._merge()

    def result(self) -> Any:
        """The newest rows (in key order), or None when no row was added."""
        if self._held:
            self._merge()
        return self._newest

    def _merge(self) -> None:
        import pyarrow as pa

        parts = self._held if self._newest is None else [self._newest, *self._held]
        merged = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        self._newest = newest_of_each_key(merged)
        self._held = []
        self._held_count = 0


def materialize_view(
    view: View,
    store: OnlineStore,
    watermarks: Watermarks,
    read_rows: RowsReader,
    *,
    start: dt.datetime | None,
    end: dt.datetime,
    incremental: bool,
    progress: Callable[[MaterializeProgress], None] | None,
    batch_rows: int = BATCH_ROWS,
) -> Materialization:
    """Copy one view's rows (see the module docstring)."""
    began = time.perf_counter()
    version = view.version or 0
    held = watermarks.get(view.name)
    since = start
    full = True
    if incremental and held is not None and held[0] == version and held[1] is not None:
        mark = dt.datetime.fromtimestamp(held[1] / 1000, dt.UTC)
        since = mark if start is None else max(start, mark)
        full = False
    read = written = 0
    newest_rows = _NewestRows(batch_rows)
    for batch in _batches(read_rows(view, since=since, until=end), batch_rows):
        checked, kinds = checked_table(view, batch)
        check_key_kinds(store, view, kinds)
        newest_rows.add(checked)
        read += batch.num_rows
        if progress is not None:
            progress(MaterializeProgress(view.name, read, written))
    newest: int | None = None
    found = newest_rows.result()
    for first in range(0, 0 if found is None else found.num_rows, batch_rows):
        rows = checked_rows(view, found.slice(first, batch_rows))
        top = max(r.event_us for r in rows)
        newest = top if newest is None else max(newest, top)
        written += store.write(view.name, rows)
        if progress is not None:
            progress(MaterializeProgress(view.name, read, written))
    watermark_ms = None if newest is None else newest // 1000
    # A run from the beginning sets the watermark; others only move it forward.
    watermarks.record(view.name, version, watermark_ms, written, reset=since is None)
    if progress is not None:
        progress(MaterializeProgress(view.name, read, written, done=True))
    return Materialization(
        view=view.name,
        version=version,
        full=full,
        since=since,
        until=end,
        rows_read=read,
        rows_written=written,
        watermark=None
        if watermark_ms is None
        else dt.datetime.fromtimestamp(watermark_ms / 1000, dt.UTC),
        seconds=time.perf_counter() - began,
    )


def default_reader(client: Any) -> RowsReader:
    """The offline store's row reader (``client`` reads dataset sources)."""
    try:
        from mloop.features.offline import read_view_rows
    except ImportError as exc:  # the data extra (pyarrow, duckdb) is missing
        raise ValidationError(
            f"materialization reads feature views with pyarrow and duckdb (pip install "
            f"'mloop[data]'): {exc}",
            field="views",
        ) from exc
    return functools.partial(read_view_rows, client=client)
