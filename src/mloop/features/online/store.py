"""The online store's interface: per feature view, the newest row of each entity key.

A row is an entity key (the view's join key values, encoded by :func:`encode_key`), its
event time and created time (microseconds since the epoch; created may be None) and the
view's feature values (JSON values; a timestamp feature as microseconds). A write keeps a
row only when it is at least as new as the stored one: a later event time wins, equal
event times are decided by the created time (None is older than any), and an older row
changes nothing. Reads return the stored event time and the asked-for features of many
keys of a view in one batched call.

How far each view was materialized (its watermark) is kept in the metadata database
(``feature_materializations``), not here; the store only remembers the kinds of each
view's keys (``int`` or ``string``), so that a lookup with a key of the wrong kind is an
error instead of a silent miss.

Backends: SQLite (the default, a file of its own) and Redis; :func:`open_online_store`
picks one from a URL.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from mloop.core.errors import ValidationError

KeyKind = str  # "int" or "string"


class Row(NamedTuple):
    """One row to write."""

    key: bytes
    event_us: int
    created_us: int | None
    values: dict[str, Any]


class Found(NamedTuple):
    """One stored row, as read: its event time and the asked-for features' values."""

    event_us: int
    values: list[Any]


def encode_key(values: Sequence[int | str]) -> bytes:
    """The stored form of an entity key: its values as a JSON array (``[7]``,
    ``[7,"DE"]``), so an integer 7 and a string "7" are different keys."""
    return orjson.dumps(list(values))


class OnlineStore(abc.ABC):
    """Where served feature values live (see the module docstring)."""

    url: str

    @abc.abstractmethod
    def write(self, view: str, rows: Sequence[Row]) -> int:
        """Keep each row that is at least as new as its key's stored row; the rows kept."""

    @abc.abstractmethod
    def read(self, view: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Found | None]:
        """The stored row of each key (None where there is none), in the order given;
        a feature the stored row lacks reads None."""

    def read_views(
        self, requests: Sequence[tuple[str, Sequence[bytes], Sequence[str]]]
    ) -> list[list[Found | None]]:
        """Several views' reads; a backend may send them in one round trip."""
        return [self.read(view, keys, features) for view, keys, features in requests]

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Remove every row of ``view`` and its key kinds; the rows removed."""

    @abc.abstractmethod
    def key_kinds(self, view: str) -> list[KeyKind] | None:
        """The kinds of ``view``'s join keys, as first written (None: nothing written)."""

    @abc.abstractmethod
    def set_key_kinds(self, view: str, kinds: Sequence[KeyKind]) -> None:
        """Record the kinds of ``view``'s join keys."""

    @abc.abstractmethod
    def count(self, view: str) -> int:
        """How many keys ``view`` holds."""

    def close(self) -> None:  # noqa: B027 (a store without connections has nothing to do)
        """Release connections."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_online_store(url: str, **options: Any) -> OnlineStore:
    """The store at ``url``: ``redis://`` or ``rediss://`` (Redis), ``sqlite:///PATH``
    or a plain file path (SQLite)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mloop.features.online.redis_store import RedisOnlineStore

        return RedisOnlineStore(url, **options)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    elif "://" in url:
        raise ValidationError(
            f"online store {url!r} is not understood: use sqlite:///PATH, a file path or "
            "redis://host:port/db (MLOOP_ONLINE_STORE)",
            field="online_store",
        )
    else:
        path = url
    from mloop.features.online.sqlite_store import SqliteOnlineStore

    return SqliteOnlineStore(Path(path).expanduser(), **options)
