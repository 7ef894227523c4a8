"""The Redis cache store against the real Redis at 127.0.0.1:6379 (fails under CI=true
when Redis is missing, skips elsewhere). Each test uses its own key prefix and removes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import redis
from tests.conftest import port_open, require_service

from mloop.llm.cache import CacheBackendConfig, CacheEntry, CacheKey, open_cache_store
from mloop.llm.cache.redis_store import RedisCacheStore

T = TypeVar("T")
URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    name = f"mloop-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(match=f"{name}*"):
        client.delete(key)
    client.close()


def run(
    store_factory: Callable[[], RedisCacheStore],
    body: Callable[[RedisCacheStore], Coroutine[Any, Any, T]],
) -> T:
    async def go() -> T:
        store = store_factory()
        try:
            return await body(store)
        finally:
            await store.aclose()

    return asyncio.run(go())


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _entry(text: str = "hello") -> CacheEntry:
    return CacheEntry({"choices": [{"message": {"content": text}}]}, 0, 0, 0.01, "openai", "m")


def test_round_trip_with_native_ttl_and_key_layout(prefix: str) -> None:
    async def body(store: RedisCacheStore) -> None:
        key = CacheKey("default", "f" * 64)
        assert await store.get(key) is None
        assert await store.put(key, _entry(), ttl=120)
        got = await store.get(key)
        assert got is not None and got.body == _entry().body
        assert (got.cost_usd, got.provider, got.model) == (0.01, "openai", "m")
        raw = redis.Redis.from_url(URL)
        name = f"{prefix}:default:{'f' * 64}"
        assert raw.exists(name)
        assert 100 < raw.ttl(name) <= 120
        raw.close()
        stats = await store.stats()
        assert (stats.entries, stats.hits, stats.misses, stats.writes) == (1, 1, 1, 1)

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix), body)


def test_entry_past_its_expiry_is_a_miss(prefix: str) -> None:
    clock = Clock()

    async def body(store: RedisCacheStore) -> None:
        await store.put(CacheKey("n", "k"), _entry(), ttl=30)
        clock.now += 31  # Redis has not expired it yet; the store still must not serve it
        assert await store.get(CacheKey("n", "k")) is None

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix, clock=clock), body)


def test_delete_namespace_leaves_others(prefix: str) -> None:
    async def body(store: RedisCacheStore) -> None:
        for i in range(7):
            await store.put(CacheKey("gone", f"k{i}"), _entry(), ttl=60)
        await store.put(CacheKey("kept", "k"), _entry(), ttl=60)
        await store.put_vector(CacheKey("gone", "k1"), "s", np.ones(4), ttl=60)
        assert await store.delete_namespace("gone") == 7
        assert await store.get(CacheKey("gone", "k1")) is None
        assert await store.get(CacheKey("kept", "k")) is not None
        assert await store.load_vectors("gone", limit=10) == []

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix), body)


def test_oversized_and_corrupt_entries(prefix: str) -> None:
    async def body(store: RedisCacheStore) -> None:
        big = CacheEntry({"t": "x" * 5000}, 0, 0, 0, "p", "m")
        assert not await store.put(CacheKey("n", "big"), big, ttl=60)
        raw = redis.Redis.from_url(URL)
        raw.set(f"{prefix}:n:bad", b"\xff not json")
        raw.set(f"{prefix}:n:shape", b'{"body": [1]}')
        raw.close()
        assert await store.get(CacheKey("n", "bad")) is None
        assert await store.get(CacheKey("n", "shape")) is None
        stats = await store.stats()
        assert stats.refused_oversized == 1 and stats.errors == 2

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix, max_body_bytes=1000), body)


def test_vectors_survive_a_new_store_and_expire(prefix: str) -> None:
    clock = Clock()

    async def write(store: RedisCacheStore) -> None:
        await store.put(CacheKey("n", "k1"), _entry(), ttl=60)
        await store.put_vector(CacheKey("n", "k1"), "scope", np.array([0.6, 0.8]), ttl=60)
        await store.put_vector(CacheKey("n", "k2"), "scope", np.array([1.0, 0.0]), ttl=5)

    async def read(store: RedisCacheStore) -> list[tuple[str, list[float]]]:
        clock.now += 10
        removed = await store.clear_expired()
        assert removed == 1
        return [(v.fingerprint, v.vector.tolist()) for v in await store.load_vectors("n", 10)]

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix, clock=clock), write)
    loaded = run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix, clock=clock), read)
    assert [fp for fp, _ in loaded] == ["k1"]
    assert np.allclose(loaded[0][1], [0.6, 0.8])


def test_unreachable_redis_is_a_miss_not_an_error(prefix: str) -> None:
    async def body(store: RedisCacheStore) -> None:
        assert await store.get(CacheKey("n", "k")) is None
        # Known down now: the write is skipped without trying Redis again.
        assert store.health.is_down
        assert not await store.put(CacheKey("n", "k"), _entry(), ttl=60)
        stats = await store.stats()
        assert (stats.errors, stats.misses, stats.writes, stats.entries) == (1, 1, 0, -1)

    # port 1 on loopback: nothing listens there
    run(lambda: RedisCacheStore.from_url("redis://127.0.0.1:1/0", key_prefix=prefix), body)


def test_open_cache_store_for_redis(prefix: str) -> None:
    store = open_cache_store(
        CacheBackendConfig(backend="redis", url=URL, key_prefix=prefix),
        home=Path("."),
    )
    assert isinstance(store, RedisCacheStore)
    assert store.key_prefix == prefix

    async def body(s: RedisCacheStore) -> None:
        assert await s.put(CacheKey("n", "k"), _entry(), ttl=5)
        assert await s.get(CacheKey("n", "k")) is not None

    run(lambda: store, body)


def test_redis_backend_needs_a_url() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="url"):
        CacheBackendConfig(backend="redis")


def test_semantic_cache_over_redis_survives_a_restart(prefix: str) -> None:
    from mloop.llm.cache import SemanticCache, fingerprint
    from mloop.llm.types import ChatRequest

    vectors = {"user: where is my order?": [1.0, 0.0], "user: where's my order?": [0.99, 0.14]}

    async def embed(texts: list[str]) -> list[list[float]]:
        return [vectors[t.lower()] for t in texts]

    def request(text: str) -> ChatRequest:
        return ChatRequest.model_validate(
            {"model": "r", "temperature": 0, "messages": [{"role": "user", "content": text}]}
        )

    async def fill(store: RedisCacheStore) -> None:
        cache = SemanticCache(store, embed)
        first = request("Where is my order?")
        probe = await cache.lookup(first, target="r", namespace="ns")
        key = CacheKey("ns", fingerprint(first, target="r", namespace="ns"))
        assert await store.put(key, _entry("in transit"), ttl=60)
        await cache.remember(probe, key, ttl=60)

    async def ask(store: RedisCacheStore) -> str | None:
        cache = SemanticCache(store, embed)  # a new process: vectors come from Redis
        hit = (await cache.lookup(request("Where's my order?"), target="r", namespace="ns")).hit
        return None if hit is None else hit.entry.body["choices"][0]["message"]["content"]

    run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix), fill)
    assert run(lambda: RedisCacheStore.from_url(URL, key_prefix=prefix), ask) == "in transit"
