"""The default cache store: one table in a local SQLite file (``MLOOP_HOME/llm-cache.db``).

Reads run inline on the caller's thread: one primary-key SELECT on a WAL database takes
tens of microseconds and never waits for the writer. Writes go to a background thread that
commits them in batches, so the event loop never waits for a disk sync; until a write is
committed, :meth:`SqliteCacheStore.get` answers it from memory. When the table holds more
than ``max_entries`` rows, the writer removes expired rows and then the oldest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from mloop.core.errors import ValidationError
from mloop.llm.cache.store import (
    CacheEntry,
    CacheKey,
    CacheStats,
    CacheStore,
    StoredVector,
    valid_ttl,
    vector_bytes,
    vector_from_bytes,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    namespace TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    cost_usd REAL NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    scope TEXT,
    vector BLOB,
    PRIMARY KEY (namespace, fingerprint)
);
CREATE INDEX IF NOT EXISTS ix_llm_cache_created ON llm_cache (created);
CREATE INDEX IF NOT EXISTS ix_llm_cache_expires ON llm_cache (expires);
"""

_SELECT = (
    "SELECT body, created, expires, cost_usd, provider, model FROM llm_cache "
    "WHERE namespace = ? AND fingerprint = ?"
)
_UPSERT = (
    "INSERT OR REPLACE INTO llm_cache "
    "(namespace, fingerprint, body, created, expires, cost_usd, provider, model) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_BATCH = 512  # writes committed in one transaction at most
_MAX_QUEUED = 10_000  # writes waiting for the writer before new ones are refused


@dataclass
class _Put:
    key: CacheKey
    entry: CacheEntry
    body: bytes


@dataclass
class _Task:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]


_STOP = object()


def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.execute("PRAGMA journal_mode=WAL")
    # A cache may lose its last writes in a power cut; it must not wait for fsync.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    return _configure(conn)


class SqliteCacheStore(CacheStore):
    """Cached answers in a SQLite file; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_entries: int = 100_000,
        max_body_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self._clock = clock
        self._stats = CacheStats(backend="sqlite")
        # Connecting reads nothing yet; the pragmas are the first reads of the file.
        writer = sqlite3.connect(
            self.path, timeout=10.0, check_same_thread=False, isolation_level=None
        )
        try:
            _configure(writer)
            writer.executescript(_SCHEMA)
            count = writer.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            writer.close()
            raise ValidationError(
                f"cannot open the LLM cache at {self.path}: {exc}. It only holds cached "
                "answers: delete the file, or set cache_backend.path to another one",
                field="cache_backend.path",
            ) from exc
        self._approx_entries = int(count)
        # The event loop must not wait long on a lock: a busy reader counts as a miss.
        self._reader = _connect(self.path, timeout=0.05)
        self._read_lock = threading.Lock()
        self._pending: dict[CacheKey, CacheEntry] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, args=(writer,), name="mloop-llm-cache-writer", daemon=True
        )
        self._thread.start()

    # -- reads on the caller's thread ----------------------------------------------------

    async def get(self, key: CacheKey) -> CacheEntry | None:
        return self.get_now(key)

    def get_now(self, key: CacheKey) -> CacheEntry | None:
        """:meth:`get` without a coroutine, for callers outside an event loop."""
        now = self._clock()
        pending = self._pending.get(key)
        if pending is not None and pending.expires > now:
            self._stats.hits += 1
            return pending
        try:
            with self._read_lock:
                row = self._reader.execute(_SELECT, (key.namespace, key.fingerprint)).fetchone()
        except sqlite3.Error as exc:
            log.warning("cache read failed, answering a miss: %s", exc)
            self._stats.errors += 1
            self._stats.misses += 1
            return None
        if row is None or row[2] <= now:
            self._stats.misses += 1
            return None
        try:
            body = orjson.loads(row[0])
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self._stats.errors += 1
            self._stats.misses += 1
            return None
        self._stats.hits += 1
        return CacheEntry(body, row[1], row[2], row[3], row[4], row[5])

    # -- writes, queued for the writer thread ---------------------------------------------

    async def put(self, key: CacheKey, entry: CacheEntry, ttl: float) -> bool:
        return self.put_now(key, entry, ttl)

    def put_now(self, key: CacheKey, entry: CacheEntry, ttl: float) -> bool:
        """:meth:`put` without a coroutine; it never blocks on the disk."""
        if self._closed or not valid_ttl(ttl):
            self._stats.errors += 1
            return False
        try:
            body = orjson.dumps(entry.body)
        except (orjson.JSONEncodeError, TypeError) as exc:
            log.warning("cache write refused, body is not JSON: %s", exc)
            self._stats.errors += 1
            return False
        if len(body) > self.max_body_bytes:
            self._stats.refused_oversized += 1
            return False
        if self._queue.qsize() >= _MAX_QUEUED:
            log.warning("cache writer is %d writes behind; dropping a write", _MAX_QUEUED)
            self._stats.errors += 1
            return False
        now = self._clock()
        stored = CacheEntry(entry.body, now, now + ttl, entry.cost_usd, entry.provider, entry.model)
        self._pending[key] = stored
        self._queue.put(_Put(key, stored, body))
        return True

    async def put_vector(self, key: CacheKey, scope: str, vector: np.ndarray, ttl: float) -> None:
        data = vector_bytes(vector)

        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE llm_cache SET scope = ?, vector = ? "
                "WHERE namespace = ? AND fingerprint = ?",
                (scope, data, key.namespace, key.fingerprint),
            )

        # Not awaited: the vector follows its entry through the same queue.
        self._submit(update)

    async def load_vectors(self, namespace: str, limit: int) -> list[StoredVector]:
        now = self._clock()

        def load(conn: sqlite3.Connection) -> list[StoredVector]:
            rows = conn.execute(
                "SELECT fingerprint, scope, vector, expires FROM llm_cache "
                "WHERE namespace = ? AND vector IS NOT NULL AND expires > ? "
                "ORDER BY created DESC LIMIT ?",
                (namespace, now, limit),
            ).fetchall()
            found = []
            for fingerprint, scope, data, expires in reversed(rows):
                vector = vector_from_bytes(data)
                if vector is not None and scope:
                    found.append(StoredVector(fingerprint, scope, vector, expires))
            return found

        return await self._call(load)

    async def delete_namespace(self, namespace: str) -> int:
        for key in [k for k in self._pending if k.namespace == namespace]:
            self._pending.pop(key, None)

        def delete(conn: sqlite3.Connection) -> int:
            count = conn.execute("DELETE FROM llm_cache WHERE namespace = ?", (namespace,)).rowcount
            self._approx_entries = max(0, self._approx_entries - count)
            return int(count)

        return await self._call(delete)

    async def clear_expired(self) -> int:
        now = self._clock()
        return await self._call(lambda conn: self._delete_expired(conn, now))

    async def stats(self) -> CacheStats:
        count = await self._call(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])
        )
        self._stats.entries = count
        return replace(self._stats)

    async def flush(self) -> None:
        await self._call(lambda conn: None)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        with self._read_lock:
            self._reader.close()

    # -- the writer thread ---------------------------------------------------------------

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the cache store is closed"))
        else:
            self._queue.put(_Task(fn, future))
        return future

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self._submit(fn))

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                items = [self._queue.get()]
                while len(items) < _BATCH:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                puts: list[_Put] = []
                for item in items:
                    if isinstance(item, _Put):
                        puts.append(item)
                        continue
                    self._write(conn, puts)
                    puts = []
                    if item is _STOP:
                        return
                    self._run_task(conn, item)
                self._write(conn, puts)
        finally:
            conn.close()

    def _run_task(self, conn: sqlite3.Connection, task: _Task) -> None:
        try:
            with conn:
                task.future.set_result(task.fn(conn))
        except Exception as exc:  # the caller's await gets the error
            self._stats.errors += 1
            task.future.set_exception(exc)

    def _write(self, conn: sqlite3.Connection, puts: list[_Put]) -> None:
        if not puts:
            return
        rows = [
            (
                p.key.namespace,
                p.key.fingerprint,
                p.body,
                p.entry.created,
                p.entry.expires,
                float(p.entry.cost_usd),
                p.entry.provider,
                p.entry.model,
            )
            for p in puts
        ]
        try:
            with conn:
                conn.execute("BEGIN")
                conn.executemany(_UPSERT, rows)
            self._stats.writes += len(rows)
            self._approx_entries += len(rows)
            if self._approx_entries > self.max_entries:
                with conn:
                    self._evict(conn)
        except sqlite3.Error as exc:
            log.warning("cache write of %d entries failed: %s", len(rows), exc)
            self._stats.errors += len(rows)
        finally:
            for p in puts:
                if self._pending.get(p.key) is p.entry:
                    self._pending.pop(p.key, None)

    def _delete_expired(self, conn: sqlite3.Connection, now: float) -> int:
        count = int(conn.execute("DELETE FROM llm_cache WHERE expires <= ?", (now,)).rowcount)
        self._stats.expired_removed += count
        self._approx_entries = max(0, self._approx_entries - count)
        return count

    def _evict(self, conn: sqlite3.Connection) -> None:
        """Expired rows first, then the oldest, down to 95% of ``max_entries`` so the next
        writes do not each pay for an eviction."""
        count = int(conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0])
        if count > self.max_entries:
            count -= self._delete_expired(conn, self._clock())
        target = self.max_entries - self.max_entries // 20
        if count > self.max_entries:
            removed = conn.execute(
                "DELETE FROM llm_cache WHERE rowid IN "
                "(SELECT rowid FROM llm_cache ORDER BY created LIMIT ?)",
                (count - target,),
            ).rowcount
            self._stats.evicted += int(removed)
            count -= int(removed)
        self._approx_entries = count
