"""The interface of a cache store (:mod:`mloop.llm.cache.factory` opens the configured one).

Stores are async because the gateway runs on one event loop. The SQLite store answers
``get`` inline (one indexed SELECT, tens of microseconds) and writes from a background
thread in batches; the Redis store uses ``redis.asyncio``. No store method raises on a
broken or hostile entry: a cache problem must never fail the request, so it becomes a miss
or a refused write, counted in :meth:`CacheStore.stats`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np


class CacheKey(NamedTuple):
    """Where an entry lives: its namespace and its fingerprint."""

    namespace: str
    fingerprint: str


@dataclass(frozen=True)
class CacheEntry:
    """A cached answer. ``cost_usd`` is what the call that filled it cost: a hit saves that
    much. ``created`` and ``expires`` are seconds since the epoch."""

    body: dict[str, Any]
    created: float
    expires: float
    cost_usd: float
    provider: str
    model: str


@dataclass(frozen=True)
class StoredVector:
    """A semantic-cache vector as persisted: which entry it points to and when it expires."""

    fingerprint: str
    scope: str
    vector: np.ndarray
    expires: float


@dataclass
class CacheStats:
    """Counters since the store was opened, plus the number of stored entries."""

    backend: str
    entries: int = 0
    hits: int = 0
    misses: int = 0
    writes: int = 0
    refused_oversized: int = 0
    evicted: int = 0
    expired_removed: int = 0
    errors: int = 0

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": self.hit_rate}


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes (what the stores persist)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray | None:
    """The inverse of :func:`vector_bytes`; None for bytes that are no float32 vector."""
    if not data or len(data) % 4:
        return None
    vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
    return vector if np.isfinite(vector).all() else None


def valid_ttl(ttl: float) -> bool:
    return isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0


class CacheStore(ABC):
    """Cached answers by :class:`CacheKey`."""

    @abstractmethod
    async def get(self, key: CacheKey) -> CacheEntry | None:
        """The entry, or None when missing, expired or unreadable."""

    @abstractmethod
    async def put(self, key: CacheKey, entry: CacheEntry, ttl: float) -> bool:
        """Store ``entry`` for ``ttl`` seconds. False (and counted) when refused: a body
        over the size limit, one that cannot be serialised, or a bad ttl."""

    @abstractmethod
    async def put_vector(self, key: CacheKey, scope: str, vector: np.ndarray, ttl: float) -> None:
        """Persist the semantic-cache vector of the entry at ``key``."""

    @abstractmethod
    async def load_vectors(self, namespace: str, limit: int) -> list[StoredVector]:
        """The newest ``limit`` unexpired vectors of ``namespace``, oldest first."""

    @abstractmethod
    async def delete_namespace(self, namespace: str) -> int:
        """Remove every entry of ``namespace``; returns how many."""

    @abstractmethod
    async def clear_expired(self) -> int:
        """Remove expired entries; returns how many."""

    @abstractmethod
    async def stats(self) -> CacheStats:
        """Counters and the number of stored entries."""

    async def flush(self) -> None:  # noqa: B027 - stores that write inline have nothing to do
        """Wait until every accepted write is stored."""

    @abstractmethod
    async def aclose(self) -> None:
        """Flush and release connections."""
