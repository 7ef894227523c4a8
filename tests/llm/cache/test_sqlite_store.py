"""The SQLite cache store: round trips, expiry, eviction, hostile input, restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from mloop.core.errors import ValidationError
from mloop.llm.cache import CacheBackendConfig, CacheEntry, CacheKey, open_cache_store
from mloop.llm.cache.sqlite_store import SqliteCacheStore

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _entry(text: str = "hello", cost: float = 0.002) -> CacheEntry:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"message": {"content": text}}],
    }
    return CacheEntry(body, 0.0, 0.0, cost, "openai", "gpt-4o-mini")


def test_round_trip_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()

    async def first() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", clock=clock)
        key = CacheKey("default", "a" * 64)
        assert await store.get(key) is None
        assert await store.put(key, _entry(), ttl=60)
        got = await store.get(key)  # answered before the writer committed, or after
        assert got is not None and got.body == _entry().body
        await store.flush()
        got = await store.get(key)
        assert got is not None
        assert (got.cost_usd, got.provider, got.model) == (0.002, "openai", "gpt-4o-mini")
        assert (got.created, got.expires) == (clock.now, clock.now + 60)
        await store.aclose()

    async def second() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", clock=clock)
        got = await store.get(CacheKey("default", "a" * 64))
        assert got is not None and got.body["choices"][0]["message"]["content"] == "hello"
        stats = await store.stats()
        assert (stats.entries, stats.hits, stats.misses) == (1, 1, 0)
        await store.aclose()

    run(first())
    run(second())


def test_expiry_and_clear_expired(tmp_path: Path) -> None:
    clock = Clock()

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", clock=clock)
        await store.put(CacheKey("n", "short"), _entry(), ttl=10)
        await store.put(CacheKey("n", "long"), _entry(), ttl=100)
        await store.flush()
        clock.now += 11
        assert await store.get(CacheKey("n", "short")) is None
        assert await store.get(CacheKey("n", "long")) is not None
        assert await store.clear_expired() == 1
        assert (await store.stats()).entries == 1
        await store.aclose()

    run(go())


def test_namespaces_are_separate_and_deletable(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        await store.put(CacheKey("a", "k"), _entry("from a"), ttl=60)
        await store.put(CacheKey("b", "k"), _entry("from b"), ttl=60)
        await store.put(CacheKey("b", "k2"), _entry("from b"), ttl=60)
        got = await store.get(CacheKey("a", "k"))
        assert got is not None and got.body["choices"][0]["message"]["content"] == "from a"
        assert await store.delete_namespace("b") == 2
        assert await store.get(CacheKey("b", "k")) is None
        assert await store.get(CacheKey("a", "k")) is not None
        await store.aclose()

    run(go())


def test_eviction_keeps_at_most_max_entries_and_drops_the_oldest(tmp_path: Path) -> None:
    clock = Clock()

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", max_entries=20, clock=clock)
        for i in range(50):
            clock.now += 1
            await store.put(CacheKey("n", f"k{i}"), _entry(), ttl=3600)
            await store.flush()  # one write per batch so eviction runs as entries arrive
        stats = await store.stats()
        assert stats.entries <= 20
        assert stats.evicted > 0
        assert await store.get(CacheKey("n", "k0")) is None
        assert await store.get(CacheKey("n", "k49")) is not None
        await store.aclose()

    run(go())


def test_eviction_prefers_expired_entries(tmp_path: Path) -> None:
    clock = Clock()

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", max_entries=10, clock=clock)
        await store.put(CacheKey("n", "old-but-long"), _entry(), ttl=10_000)
        for i in range(9):
            await store.put(CacheKey("n", f"short{i}"), _entry(), ttl=5)
        await store.flush()
        clock.now += 10
        await store.put(CacheKey("n", "new"), _entry(), ttl=100)
        await store.flush()
        assert await store.get(CacheKey("n", "old-but-long")) is not None
        assert await store.get(CacheKey("n", "new")) is not None
        stats = await store.stats()
        assert stats.expired_removed == 9 and stats.evicted == 0
        await store.aclose()

    run(go())


def test_oversized_and_unserialisable_bodies_are_refused_and_counted(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", max_body_bytes=1000)
        big = CacheEntry({"text": "x" * 2000}, 0, 0, 0.1, "p", "m")
        assert not await store.put(CacheKey("n", "big"), big, ttl=60)
        odd = CacheEntry({"obj": object()}, 0, 0, 0.1, "p", "m")
        assert not await store.put(CacheKey("n", "odd"), odd, ttl=60)
        assert not await store.put(CacheKey("n", "ttl"), _entry(), ttl=float("nan"))
        assert not await store.put(CacheKey("n", "ttl"), _entry(), ttl=0)
        await store.flush()
        assert await store.get(CacheKey("n", "big")) is None
        stats = await store.stats()
        assert stats.refused_oversized == 1
        assert stats.errors == 3
        assert stats.entries == 0
        await store.aclose()

    run(go())


def test_a_corrupted_row_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "c.db"

    async def go() -> None:
        store = SqliteCacheStore(path)
        await store.put(CacheKey("n", "k"), _entry(), ttl=60)
        await store.put(CacheKey("n", "list"), _entry(), ttl=60)
        await store.flush()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE llm_cache SET body = x'ff00' WHERE fingerprint = 'k'")
            conn.execute("UPDATE llm_cache SET body = '[1, 2]' WHERE fingerprint = 'list'")
        assert await store.get(CacheKey("n", "k")) is None
        assert await store.get(CacheKey("n", "list")) is None
        assert (await store.stats()).errors == 2
        await store.aclose()

    run(go())


def test_vectors_are_persisted_with_their_entry(tmp_path: Path) -> None:
    clock = Clock()

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", clock=clock)
        await store.put(CacheKey("n", "k1"), _entry(), ttl=60)
        await store.put(CacheKey("n", "k2"), _entry(), ttl=5)
        await store.put_vector(CacheKey("n", "k1"), "scope", np.array([1.0, 0.0]), ttl=60)
        await store.put_vector(CacheKey("n", "k2"), "scope", np.array([0.0, 1.0]), ttl=5)
        # a vector for an entry that was never stored is dropped
        await store.put_vector(CacheKey("n", "missing"), "scope", np.array([1.0, 1.0]), ttl=60)
        clock.now += 10
        loaded = await store.load_vectors("n", limit=10)
        assert [v.fingerprint for v in loaded] == ["k1"]
        assert loaded[0].scope == "scope"
        assert np.allclose(loaded[0].vector, [1.0, 0.0])
        assert await store.load_vectors("other", limit=10) == []
        await store.aclose()

    run(go())


def test_open_cache_store_defaults_to_sqlite_in_home(tmp_path: Path) -> None:
    async def go() -> None:
        store = open_cache_store(CacheBackendConfig(), tmp_path)
        assert isinstance(store, SqliteCacheStore)
        assert store.path == tmp_path / "llm-cache.db"
        await store.aclose()
        custom = open_cache_store(
            CacheBackendConfig(path=str(tmp_path / "x" / "y.db"), max_body_bytes=10), tmp_path
        )
        assert isinstance(custom, SqliteCacheStore)
        assert custom.max_body_bytes == 10 and custom.path.exists()
        await custom.aclose()

    run(go())


def test_closed_store_refuses_writes_quietly(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        await store.aclose()
        assert not await store.put(CacheKey("n", "k"), _entry(), ttl=60)

    run(go())


def test_a_file_that_is_not_a_database_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValidationError, match="delete the file") as info:
        SqliteCacheStore(path)
    assert info.value.field == "cache_backend.path"
