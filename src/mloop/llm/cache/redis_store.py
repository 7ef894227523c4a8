"""The cache store for several gateway replicas: Redis, through ``redis.asyncio``.

An entry is one key ``<prefix>:<namespace>:<fingerprint>`` holding the orjson-serialised
entry, written with ``SET ... EX ttl`` so Redis expires it itself; eviction under memory
pressure is Redis's ``maxmemory-policy`` (``allkeys-lru`` or ``volatile-ttl`` suit a cache).
Semantic-cache vectors live beside it in ``<prefix>-vec:<namespace>:<fingerprint>`` (a hash
of scope and float32 bytes, same TTL) and a sorted set ``<prefix>-vec:<namespace>`` of
fingerprints scored by expiry, so a restarted replica can reload them.

The client comes from :func:`mloop.llm.redis_client.open_redis` (a pool that waits for a free
connection, with timeouts). When Redis fails or is slow, reads answer a miss and writes are
skipped; after a failure the store leaves Redis alone for ``down_seconds`` (one warning per
outage, see :class:`~mloop.llm.redis_client.RedisHealth`), so an outage costs the requests
no waiting.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

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
from mloop.llm.redis_client import RedisHealth, RedisPoolConfig, open_redis

log = logging.getLogger(__name__)

_SCAN_BATCH = 500


class RedisCacheStore(CacheStore):
    """Cached answers in Redis; see the module docstring. Errors of Redis itself (down,
    timeouts, no free connection) become misses and skipped writes, counted in
    ``stats().errors``."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_prefix: str = "mloop:cache",
        max_body_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.time,
        health: RedisHealth | None = None,
    ) -> None:
        self.client = client
        self.health = health or RedisHealth("response cache", "cache misses")
        self.key_prefix = key_prefix
        self.max_body_bytes = max_body_bytes
        self._clock = clock
        self._stats = CacheStats(backend="redis")

    @classmethod
    def from_url(
        cls, url: str, *, pool: RedisPoolConfig | None = None, **kwargs: Any
    ) -> RedisCacheStore:
        """A store on a new client for ``url`` (``redis://host:6379/0``), its connection pool
        sized and timed by ``pool``."""
        pool = pool or RedisPoolConfig()
        health = RedisHealth("response cache", "cache misses", down_seconds=pool.down_seconds)
        return cls(open_redis(url, pool), health=health, **kwargs)

    def _key(self, key: CacheKey) -> str:
        return f"{self.key_prefix}:{key.namespace}:{key.fingerprint}"

    def _vector_key(self, key: CacheKey) -> str:
        return f"{self.key_prefix}-vec:{key.namespace}:{key.fingerprint}"

    def _vector_index(self, namespace: str) -> str:
        return f"{self.key_prefix}-vec:{namespace}"

    async def get(self, key: CacheKey) -> CacheEntry | None:
        if not self.health.available():
            self._stats.misses += 1
            return None
        try:
            raw = await self.client.get(self._key(key))
        except RedisError as exc:
            self.health.failed(exc)  # logs the first failure of an outage
            self._stats.errors += 1
            self._stats.misses += 1
            return None
        self.health.succeeded()
        entry = _decode(raw) if raw is not None else None
        if entry is None or entry.expires <= self._clock():
            if raw is not None and entry is None:
                self._stats.errors += 1
            self._stats.misses += 1
            return None
        self._stats.hits += 1
        return entry

    async def put(self, key: CacheKey, entry: CacheEntry, ttl: float) -> bool:
        if not valid_ttl(ttl):
            self._stats.errors += 1
            return False
        now = self._clock()
        try:
            data = orjson.dumps(
                {
                    "body": entry.body,
                    "created": now,
                    "expires": now + ttl,
                    "cost_usd": float(entry.cost_usd),
                    "provider": entry.provider,
                    "model": entry.model,
                }
            )
        except (orjson.JSONEncodeError, TypeError) as exc:
            log.warning("cache write refused, body is not JSON: %s", exc)
            self._stats.errors += 1
            return False
        if len(data) > self.max_body_bytes:
            self._stats.refused_oversized += 1
            return False
        if not self.health.available():
            return False
        try:
            await self.client.set(self._key(key), data, ex=_seconds(ttl))
        except RedisError as exc:
            self.health.failed(exc)
            self._stats.errors += 1
            return False
        self.health.succeeded()
        self._stats.writes += 1
        return True

    async def put_vector(self, key: CacheKey, scope: str, vector: np.ndarray, ttl: float) -> None:
        if not valid_ttl(ttl) or not self.health.available():
            return
        seconds = _seconds(ttl)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._vector_key(key), mapping={"scope": scope, "v": vector_bytes(vector)}
                )
                pipe.expire(self._vector_key(key), seconds)
                pipe.zadd(
                    self._vector_index(key.namespace), {key.fingerprint: self._clock() + seconds}
                )
                await pipe.execute()
        except RedisError as exc:
            self.health.failed(exc)
            self._stats.errors += 1

    async def load_vectors(self, namespace: str, limit: int) -> list[StoredVector]:
        index = self._vector_index(namespace)
        now = self._clock()
        await self.client.zremrangebyscore(index, "-inf", now)
        members = cast(
            "list[tuple[bytes, float]]",
            await self.client.zrange(index, -limit, -1, withscores=True),
        )
        async with self.client.pipeline(transaction=False) as pipe:
            for member, _ in members:
                pipe.hgetall(self._vector_key(CacheKey(namespace, member.decode())))
            hashes: list[dict[bytes, bytes]] = await pipe.execute()
        found: list[StoredVector] = []
        for (member, expires), data in zip(members, hashes, strict=True):
            scope = data.get(b"scope", b"").decode()
            vector = vector_from_bytes(data.get(b"v", b""))
            if vector is not None and scope:
                found.append(StoredVector(member.decode(), scope, vector, float(expires)))
        return found

    async def delete_namespace(self, namespace: str) -> int:
        deleted = 0
        for pattern in (f"{self.key_prefix}:{namespace}:*", f"{self.key_prefix}-vec:{namespace}:*"):
            batch: list[bytes] = []
            async for name in self.client.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(name)
                if len(batch) >= _SCAN_BATCH:
                    count = await self.client.unlink(*batch)
                    deleted += count if pattern.startswith(f"{self.key_prefix}:") else 0
                    batch = []
            if batch:
                count = await self.client.unlink(*batch)
                deleted += count if pattern.startswith(f"{self.key_prefix}:") else 0
        await self.client.unlink(self._vector_index(namespace))
        return deleted

    async def clear_expired(self) -> int:
        """Redis expires entries itself; this prunes the semantic indexes' expired members."""
        removed = 0
        now = self._clock()
        async for name in self.client.scan_iter(
            match=f"{self.key_prefix}-vec:*", count=_SCAN_BATCH
        ):
            if name.count(b":") == self.key_prefix.count(":") + 1:  # an index, not a vector
                removed += await self.client.zremrangebyscore(name, "-inf", now)
        self._stats.expired_removed += removed
        return removed

    async def stats(self) -> CacheStats:
        """Counters of this replica; ``entries`` counts the keys of the prefix with SCAN, so
        call it for reports, not per request."""
        count = 0
        try:
            async for _ in self.client.scan_iter(match=f"{self.key_prefix}:*", count=_SCAN_BATCH):
                count += 1
        except RedisError as exc:
            log.warning("cache stats could not count entries: %s", exc)
            count = -1
        self._stats.entries = count
        return replace(self._stats)

    async def aclose(self) -> None:
        await self.client.aclose()


def _seconds(ttl: float) -> int:
    """Redis expiries are whole seconds; never 0 (that would be an error)."""
    return max(1, math.ceil(ttl))


def _decode(raw: bytes | str) -> CacheEntry | None:
    try:
        data = orjson.loads(raw)
        body = data["body"]
        if not isinstance(body, dict):
            return None
        return CacheEntry(
            body=body,
            created=float(data["created"]),
            expires=float(data["expires"]),
            cost_usd=float(data["cost_usd"]),
            provider=str(data["provider"]),
            model=str(data["model"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
