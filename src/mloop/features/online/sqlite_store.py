"""The default online store: one SQLite file of its own, in WAL mode.

One table holds every view's rows, keyed by (view, key) without a rowid, so a lookup is one
walk of the primary key's B-tree; the features are one JSON document per row, so a view
that gains a feature needs no schema change. Each thread has its own connection
(autocommit: a read takes no transaction), and statements keep a fixed shape (keys in
``IN`` lists padded to a power of two) so sqlite3's statement cache serves them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from mloop.features.online.store import Found, KeyKind, OnlineStore, Row

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS online_rows (
        view TEXT NOT NULL,
        key BLOB NOT NULL,
        event_us INTEGER NOT NULL,
        created_us INTEGER,
        payload BLOB NOT NULL,
        PRIMARY KEY (view, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS online_views (
        view TEXT PRIMARY KEY,
        key_kinds TEXT NOT NULL
    )""",
)
# A row replaces the stored one only when it is at least as new: later event time, or the
# same event time and a created time at least as late (a missing one is the oldest).
_NO_CREATED = -(2**63)
_UPSERT = f"""INSERT INTO online_rows (view, key, event_us, created_us, payload)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (view, key) DO UPDATE SET
        event_us = excluded.event_us, created_us = excluded.created_us,
        payload = excluded.payload
    WHERE (excluded.event_us, coalesce(excluded.created_us, {_NO_CREATED}))
        >= (online_rows.event_us, coalesce(online_rows.created_us, {_NO_CREATED}))"""
_READ_ONE = "SELECT key, event_us, payload FROM online_rows WHERE view = ? AND key = ?"
_MAX_IN = 512  # keys per statement


def _read_many(size: int) -> str:
    marks = ",".join("?" * size)
    return f"SELECT key, event_us, payload FROM online_rows WHERE view = ? AND key IN ({marks})"


_READ_MANY = {size: _read_many(size) for size in (2**i for i in range(1, 10))}


class SqliteOnlineStore(OnlineStore):
    """Online rows in a SQLite file (see the module docstring)."""

    def __init__(self, path: Path, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        for statement in _SCHEMA:
            conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._timeout_s,
                isolation_level=None,  # autocommit: reads hold no transaction
                check_same_thread=False,  # closed from whichever thread closes the store
                cached_statements=64,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def write(self, view: str, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        conn = self._conn()
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                _UPSERT,
                [(view, r.key, r.event_us, r.created_us, orjson.dumps(r.values)) for r in rows],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return conn.total_changes - before

    def read(self, view: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Found | None]:
        conn = self._conn()
        if len(keys) == 1:
            row = conn.execute(_READ_ONE, (view, keys[0])).fetchone()
            if row is None:
                return [None]
            values = orjson.loads(row[2])
            return [Found(row[1], [values.get(f) for f in features])]
        stored: dict[bytes, tuple[int, bytes]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _MAX_IN):
            chunk = unique[start : start + _MAX_IN]
            size = 2
            while size < len(chunk):
                size *= 2
            padded = chunk + [chunk[-1]] * (size - len(chunk))
            for key, event_us, payload in conn.execute(_READ_MANY[size], (view, *padded)):
                stored[key] = (event_us, payload)
        found: list[Found | None] = []
        decoded: dict[bytes, Found] = {}
        for key in keys:
            hit = decoded.get(key)
            if hit is None:
                raw = stored.get(key)
                if raw is None:
                    found.append(None)
                    continue
                values = orjson.loads(raw[1])
                hit = decoded[key] = Found(raw[0], [values.get(f) for f in features])
            found.append(hit)
        return found

    def delete_view(self, view: str) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed = conn.execute("DELETE FROM online_rows WHERE view = ?", (view,)).rowcount
            conn.execute("DELETE FROM online_views WHERE view = ?", (view,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return int(removed)

    def key_kinds(self, view: str) -> list[KeyKind] | None:
        row = (
            self._conn()
            .execute("SELECT key_kinds FROM online_views WHERE view = ?", (view,))
            .fetchone()
        )
        return None if row is None else list(orjson.loads(row[0]))

    def set_key_kinds(self, view: str, kinds: Sequence[KeyKind]) -> None:
        self._conn().execute(
            "INSERT INTO online_views (view, key_kinds) VALUES (?, ?) "
            "ON CONFLICT (view) DO UPDATE SET key_kinds = excluded.key_kinds",
            (view, orjson.dumps(list(kinds)).decode()),
        )

    def count(self, view: str) -> int:
        row = (
            self._conn()
            .execute("SELECT count(*) FROM online_rows WHERE view = ?", (view,))
            .fetchone()
        )
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteOnlineStore({str(self.path)!r})"
