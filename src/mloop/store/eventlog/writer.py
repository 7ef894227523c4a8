"""The event log writer: records appended off the request path, written as Parquet segments.

``append`` checks the record and puts it on a bounded in-memory queue; it never waits for
I/O or a lock held by I/O. When the queue is full the record is dropped and counted
(``stats.dropped``), and one warning is logged per burst of drops: a full log must never
turn into a hang or a slow response. A background thread writes what is queued as segments
(see ``segments``) when ``flush_rows`` records are queued or ``flush_seconds`` have passed.

What a stop loses:

- ``close()`` (and ``flush()``) write everything queued; ``close`` also runs at interpreter
  exit, so a clean stop loses nothing;
- a process killed outright loses what was queued and not yet written: at most the records
  of the last ``flush_seconds`` seconds or ``flush_rows`` records (whichever came first),
  plus a batch whose write was failing (storage down) and is being retried;
- a kill between a segment's file and its index row leaves a file that no reader sees.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mloop.store.eventlog import segments as _segments
from mloop.store.eventlog.records import RecordChecker, to_table_skipping_bad
from mloop.store.runtime import Runtime

_log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    """Counters of one writer (read them for metrics and alerts)."""

    written: int = 0  # records stored in segments
    segments: int = 0  # segments written
    dropped: int = 0  # records refused because the queue was full
    rejected: int = 0  # records Arrow could not store (after the check at append)
    write_errors: int = 0  # failed segment writes (retried)
    lost: int = 0  # records given up on: storage still failing when the writer closed


class EventLogWriter:
    """Appends records of one source (see the module docstring).

    ``key_field`` names the column that partitions the log (an endpoint's name), None for a
    log with one partition; ``time_field`` the int64 column of event times (ms since the
    epoch) that decides each record's day.
    """

    def __init__(
        self,
        runtime: Runtime,
        source: str,
        schema: pa.Schema,
        *,
        key_field: str | None = None,
        time_field: str = "time",
        max_queue: int = 100_000,
        flush_rows: int = 50_000,
        flush_seconds: float = 10.0,
    ) -> None:
        self.source = _segments.check_source(source)
        for name, required in ((key_field, False), (time_field, True)):
            if (name is not None or required) and name not in schema.names:
                raise ValueError(f"{name!r} is not a field of the {source} log's schema")
        if not 1 <= flush_rows <= max_queue:
            raise ValueError(f"flush_rows must be between 1 and max_queue ({max_queue})")
        if not 0 < flush_seconds <= 3600:
            raise ValueError("flush_seconds must be more than 0 and at most 3600")
        self.schema = schema
        self.stats = WriterStats()
        self._runtime = runtime
        self._key_field = key_field
        self._time_field = time_field
        self._max_queue = max_queue
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._checker = RecordChecker(schema, source=source)
        # deque.append and popleft are atomic: producers never take a lock.
        self._queue: collections.deque[Mapping[str, Any]] = collections.deque()
        self._pending: pa.Table | None = None  # converted, not yet stored (a write failed)
        self._write_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._dropping = 0  # drops in the current burst
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"mloop-eventlog-{source}", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    # -- the request path --------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> bool:
        """Queue ``record``; False when the queue was full and it was dropped. Raises
        :class:`~mloop.core.errors.ValidationError` naming the field for a bad record."""
        if self._closed:
            raise RuntimeError(f"the {self.source} event log writer is closed")
        self._checker.check(record)
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._drop()
            return False
        queue.append(record)
        if len(queue) >= self._flush_rows and not self._wake.is_set():
            self._wake.set()
        return True

    def _drop(self) -> None:
        with self._drop_lock:
            self.stats.dropped += 1
            self._dropping += 1
            first = self._dropping == 1
        if first:
            _log.warning(
                "the %s event log's queue is full (%d records): dropping records until the "
                "writer catches up (counted in stats.dropped)",
                self.source,
                self._max_queue,
            )

    # -- writing -----------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Records appended and not yet written."""
        pending = self._pending.num_rows if self._pending is not None else 0
        return len(self._queue) + pending

    def flush(self) -> None:
        """Write everything appended before this call; raises if storage fails (the
        records stay queued and are retried)."""
        with self._write_lock:
            self._write_queued()

    def close(self) -> None:
        """Stop the background thread and write what is queued. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        with self._write_lock:
            try:
                self._write_queued()
            except Exception:
                lost = self.queued
                self.stats.lost += lost
                self._queue.clear()
                self._pending = None
                _log.exception("the %s event log lost %d records at close", self.source, lost)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._write_lock:
                try:
                    self._write_queued()
                except Exception:
                    # Kept in _pending and retried next round; meanwhile the queue fills
                    # and, once full, drops (counted): storage trouble never blocks append.
                    _log.exception("could not write the %s event log (will retry)", self.source)

    def _write_queued(self) -> None:
        """Write the batch whose write failed, then everything queued now (the caller holds
        the lock). While storage fails nothing more is taken from the queue, so memory stays
        bounded by ``max_queue`` plus one batch."""
        if self._pending is not None:
            self._write_pending()
        queue = self._queue
        count = len(queue)
        if count:
            records = [queue.popleft() for _ in range(count)]
            table, bad = to_table_skipping_bad(records, self.schema)
            self.stats.rejected += bad
            self._pending = table
            self._write_pending()
        self._end_drop_burst()

    def _write_pending(self) -> None:
        table = self._pending
        assert table is not None
        try:
            written = _segments.write_segments(
                self._runtime,
                self.source,
                table,
                key_field=self._key_field,
                time_field=self._time_field,
            )
        except Exception:
            self.stats.write_errors += 1
            raise
        self._pending = None
        self.stats.written += table.num_rows
        self.stats.segments += len(written)

    def _end_drop_burst(self) -> None:
        with self._drop_lock:
            dropped, self._dropping = self._dropping, 0
        if dropped:
            _log.warning("the %s event log dropped %d records in that burst", self.source, dropped)

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
