"""The semantic cache with a deterministic fake embedding function."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mloop.llm.cache import CacheEntry, CacheKey, SemanticCache, fingerprint
from mloop.llm.cache.sqlite_store import SqliteCacheStore
from mloop.llm.types import ChatRequest

# Texts map to fixed vectors so similarities are known exactly.
VECTORS: dict[str, list[float]] = {
    "user: where is my order?": [1.0, 0.0, 0.0],
    "user: where's my order?": [0.99, 0.141, 0.0],  # cosine ~0.990 with the first
    "user: cancel my order": [0.8, 0.6, 0.0],  # cosine 0.8 with the first
    "user: what is the weather?": [0.0, 0.0, 1.0],
}


class FakeEmbedder:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def __call__(self, texts: list[str]) -> Sequence[Sequence[float]]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("embedding provider down")
        return [VECTORS.get(t.lower(), [0.0, 1.0, 0.0]) for t in texts]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _req(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": text}], **fields}
    )


async def _answer(
    cache: SemanticCache, store: SqliteCacheStore, request: ChatRequest, answer: str, ttl: int = 60
) -> None:
    """What the gateway does on a miss: store the answer and remember its vector."""
    probe = await cache.lookup(request, target="r", namespace="ns")
    assert probe.hit is None
    key = CacheKey("ns", fingerprint(request, target="r", namespace="ns"))
    await store.put(key, CacheEntry({"answer": answer}, 0, 0, 0.01, "p", "m"), ttl)
    await cache.remember(probe, key, ttl)


def test_similar_request_hits_dissimilar_misses(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder(), threshold=0.95)
        await _answer(cache, store, _req("Where is my order?"), "in transit")
        hit = (await cache.lookup(_req("Where's my order?"), target="r", namespace="ns")).hit
        assert hit is not None
        assert hit.entry.body == {"answer": "in transit"}
        assert hit.similarity == pytest.approx(0.990, abs=1e-3)
        for text in ("Cancel my order", "What is the weather?"):
            probe = await cache.lookup(_req(text), target="r", namespace="ns")
            assert probe.hit is None, text
        await store.aclose()

    asyncio.run(go())


def test_threshold_decides(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        loose = SemanticCache(store, FakeEmbedder(), threshold=0.75)
        await _answer(loose, store, _req("Where is my order?"), "in transit")
        # the documented risk: a loose threshold answers "cancel" with the "where" answer
        probe = await loose.lookup(_req("Cancel my order"), target="r", namespace="ns")
        assert probe.hit is not None
        strict = SemanticCache(store, FakeEmbedder(), threshold=0.999)
        probe = await strict.lookup(_req("Where's my order?"), target="r", namespace="ns")
        assert probe.hit is None
        await store.aclose()

    asyncio.run(go())


def test_matches_only_within_scope_and_namespace(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder(), threshold=0.9)
        await _answer(cache, store, _req("Where is my order?"), "in transit")
        similar = "Where's my order?"
        assert (await cache.lookup(_req(similar), target="other", namespace="ns")).hit is None
        assert (await cache.lookup(_req(similar), target="r", namespace="ns2")).hit is None
        json_mode = _req(similar, response_format={"type": "json_object"})
        assert (await cache.lookup(json_mode, target="r", namespace="ns")).hit is None
        assert (
            await cache.lookup(_req(similar, temperature=1), target="r", namespace="ns")
        ).hit is None
        await store.aclose()

    asyncio.run(go())


def test_vectors_survive_a_restart(tmp_path: Path) -> None:
    async def first() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder())
        await _answer(cache, store, _req("Where is my order?"), "in transit")
        await store.aclose()

    async def second() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder())
        hit = (await cache.lookup(_req("Where's my order?"), target="r", namespace="ns")).hit
        assert hit is not None and hit.entry.body == {"answer": "in transit"}
        await store.aclose()

    asyncio.run(first())
    asyncio.run(second())


def test_expired_entries_do_not_match(tmp_path: Path) -> None:
    clock = Clock()

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db", clock=clock)
        cache = SemanticCache(store, FakeEmbedder(), clock=clock)
        await _answer(cache, store, _req("Where is my order?"), "in transit", ttl=10)
        clock.now += 11
        assert (
            await cache.lookup(_req("Where's my order?"), target="r", namespace="ns")
        ).hit is None
        await store.aclose()

    asyncio.run(go())


def test_entry_gone_from_the_store_is_forgotten(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder())
        await _answer(cache, store, _req("Where is my order?"), "in transit")
        await store.delete_namespace("ns")
        probe = await cache.lookup(_req("Where's my order?"), target="r", namespace="ns")
        assert probe.hit is None and probe.reason == "match no longer stored"
        await store.aclose()

    asyncio.run(go())


def test_index_is_bounded_oldest_go_first(tmp_path: Path) -> None:
    texts = [f"question {i}" for i in range(5)]

    async def embed(batch: list[str]) -> list[list[float]]:
        out = []
        for text in batch:
            i = int(text.rsplit(" ", 1)[1])
            vector = np.zeros(8)
            vector[i] = 1.0
            out.append(vector.tolist())
        return out

    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, embed, max_entries=3)
        for i, text in enumerate(texts):
            await _answer(cache, store, _req(text), f"a{i}")
        found = [
            (await cache.lookup(_req(t), target="r", namespace="ns")).hit is not None for t in texts
        ]
        assert found == [False, False, True, True, True]
        await store.aclose()

    asyncio.run(go())


def test_embedding_failures_and_odd_vectors_are_misses(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        embedder = FakeEmbedder()
        cache = SemanticCache(store, embedder)
        embedder.fail = True
        probe = await cache.lookup(_req("Where is my order?"), target="r", namespace="ns")
        assert probe.hit is None and probe.vector is None and probe.reason == "embedding failed"

        async def zero(texts: list[str]) -> list[list[float]]:
            return [[0.0, 0.0]]

        async def nan(texts: list[str]) -> list[list[float]]:
            return [[float("nan"), 1.0]]

        async def empty(texts: list[str]) -> list[list[float]]:
            return []

        for fn in (zero, nan, empty):
            odd = SemanticCache(store, fn)
            probe = await odd.lookup(_req("hi"), target="r", namespace="ns")
            assert probe.hit is None and probe.vector is None
            # remembering a probe without a vector is a no-op, not an error
            await odd.remember(probe, CacheKey("ns", "k"), 60)
        assert cache.errors == 1
        await store.aclose()

    asyncio.run(go())


def test_long_and_empty_texts_are_not_embedded(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        embedder = FakeEmbedder()
        cache = SemanticCache(store, embedder, max_text_chars=100)
        probe = await cache.lookup(_req("x" * 500), target="r", namespace="ns")
        assert probe.reason == "text too long to match"
        probe = await cache.lookup(_req("   "), target="r", namespace="ns")
        assert probe.reason == "no text"
        assert embedder.calls == 0
        await store.aclose()

    asyncio.run(go())


def test_changed_embedding_dimension_starts_a_fresh_index(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteCacheStore(tmp_path / "c.db")
        cache = SemanticCache(store, FakeEmbedder())
        await _answer(cache, store, _req("Where is my order?"), "in transit")

        async def wider(texts: list[str]) -> list[list[float]]:
            return [[1.0, 0.0, 0.0, 0.0]]

        cache.embed = wider
        probe = await cache.lookup(_req("Where is my order?"), target="r", namespace="ns")
        assert probe.hit is None
        await store.aclose()

    asyncio.run(go())


def test_threshold_must_be_in_range(tmp_path: Path) -> None:
    store = SqliteCacheStore(tmp_path / "c.db")
    with pytest.raises(ValueError, match="threshold"):
        SemanticCache(store, FakeEmbedder(), threshold=1.5)
    asyncio.run(store.aclose())
