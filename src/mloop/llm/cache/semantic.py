"""The semantic cache: answer a request with the cached answer of a *similar* earlier one.

Off by default, and for good reason (docs/gateway-cache-and-cost.md, "Risks"): similarity of
embeddings is not equality of meaning. "Cancel my order" and "Don't cancel my order" can
be 0.9 apart or closer; a hit then returns a confidently wrong answer that no error reports.
To keep the damage bounded, a semantic match is only considered between requests whose
:func:`~mloop.llm.cache.fingerprint.semantic_scope` is equal (same target, same output
parameters, tools and response format, same roles and non-text parts); only the text is
compared. Requests longer than ``max_text_chars`` are never matched.

Vectors are kept in memory per namespace (a bounded ring, the oldest go first) and persisted
in the cache store beside the entry they point to, so they survive a restart and expire
with it. Matching is one matrix-vector product with numpy over the namespace's vectors.

Call sequence in the gateway (after an exact-cache miss)::

    probe = await semantic.lookup(request, target=target, namespace=ns)
    if probe.hit: answer probe.hit.entry.body (cache status "semantic")
    ... call the provider, store the answer under the exact key ...
    await semantic.remember(probe, key, ttl)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mloop.llm.cache.fingerprint import semantic_scope
from mloop.llm.cache.store import CacheEntry, CacheKey, CacheStore
from mloop.llm.types import ChatRequest

log = logging.getLogger(__name__)

EmbedFunction = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]


@dataclass(frozen=True)
class SemanticHit:
    """The cached answer of a similar request."""

    key: CacheKey
    entry: CacheEntry
    similarity: float


@dataclass(frozen=True)
class SemanticProbe:
    """The result of :meth:`SemanticCache.lookup`: the hit if any, and what
    :meth:`SemanticCache.remember` needs to index this request's answer without embedding
    it again. ``vector`` is None when the request could not be embedded or is not eligible
    (too long, no text), ``reason`` says why."""

    hit: SemanticHit | None
    namespace: str
    scope: str
    vector: np.ndarray | None
    reason: str


class _Index:
    """The vectors of one namespace: at most ``capacity`` rows; when full, the oldest row
    is overwritten. Scopes are small ints so matching is a numpy comparison."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.dim = dim
        self.capacity = capacity
        rows = min(capacity, 64)
        self.vectors = np.zeros((rows, dim), dtype=np.float32)
        self.expires = np.zeros(rows, dtype=np.float64)
        self.scope_ids = np.full(rows, -1, dtype=np.int64)
        self.fingerprints: list[str] = [""] * rows
        self._scopes: dict[str, int] = {}
        self.size = 0  # rows in use
        self._oldest = 0  # once full: the row the next vector overwrites

    def add(self, fingerprint: str, scope: str, vector: np.ndarray, expires: float) -> None:
        if self.size < self.capacity:
            if self.size == self.vectors.shape[0]:
                self._grow()
            row = self.size
            self.size += 1
        else:
            row = self._oldest
            self._oldest = (row + 1) % self.capacity
        self.vectors[row] = vector
        self.expires[row] = expires
        self.scope_ids[row] = self._scopes.setdefault(scope, len(self._scopes))
        self.fingerprints[row] = fingerprint

    def _grow(self) -> None:
        extra = min(self.capacity, self.vectors.shape[0] * 2) - self.vectors.shape[0]
        self.vectors = np.vstack([self.vectors, np.zeros((extra, self.dim), dtype=np.float32)])
        self.expires = np.concatenate([self.expires, np.zeros(extra)])
        self.scope_ids = np.concatenate([self.scope_ids, np.full(extra, -1, dtype=np.int64)])
        self.fingerprints.extend([""] * extra)

    def best(self, query: np.ndarray, scope: str, now: float) -> tuple[int, float] | None:
        scope_id = self._scopes.get(scope)
        if scope_id is None or not self.size:
            return None
        usable = (self.scope_ids[: self.size] == scope_id) & (self.expires[: self.size] > now)
        if not usable.any():
            return None
        sims = np.where(usable, self.vectors[: self.size] @ query, -np.inf)
        row = int(np.argmax(sims))
        return row, float(sims[row])

    def forget(self, row: int) -> None:
        self.expires[row] = 0.0


def _normalised(values: Sequence[float]) -> np.ndarray | None:
    vector = np.asarray(values, dtype=np.float32)
    if vector.ndim != 1 or not vector.size or not np.isfinite(vector).all():
        return None
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


class SemanticCache:
    """Similarity lookups over a cache store; see the module docstring.

    ``embed`` is an async function from texts to vectors (the gateway passes one that calls
    the configured embedding provider). A failing embedding function makes a lookup miss; it
    never fails the request.
    """

    def __init__(
        self,
        store: CacheStore,
        embed: EmbedFunction,
        *,
        threshold: float = 0.95,
        max_entries: int = 10_000,
        max_text_chars: int = 8_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.store = store
        self.embed = embed
        self.threshold = threshold
        self.max_entries = max_entries
        self.max_text_chars = max_text_chars
        self._clock = clock
        self._indexes: dict[str, _Index | None] = {}
        self.errors = 0

    @staticmethod
    def text_of(request: ChatRequest) -> str:
        """The text that is embedded: each message as ``role: text`` on its own lines, so a
        system prompt and a user turn are not interchangeable."""
        return "\n".join(f"{m.role}: {m.text()}" for m in request.messages or [])

    async def _index(self, namespace: str, dim: int) -> _Index:
        index = self._indexes.get(namespace)
        if index is not None and index.dim == dim:
            return index
        fresh = _Index(dim, self.max_entries)
        if namespace not in self._indexes:
            # First use of the namespace in this process: reload what earlier ones stored.
            try:
                stored = await self.store.load_vectors(namespace, self.max_entries)
            except Exception as exc:  # a store outage must not fail the request
                log.warning("semantic cache could not load namespace %s: %s", namespace, exc)
                self.errors += 1
                stored = []
            for item in stored:
                if item.vector.shape == (dim,):
                    vector = _normalised(item.vector.tolist())
                    if vector is not None:
                        fresh.add(item.fingerprint, item.scope, vector, item.expires)
        # An index of another dimension belonged to a different embedding model: drop it.
        self._indexes[namespace] = fresh
        return fresh

    async def lookup(self, request: ChatRequest, *, target: str, namespace: str) -> SemanticProbe:
        """Embed the request and return the best stored match at or above the threshold."""
        scope = semantic_scope(request, target=target)
        text = self.text_of(request)
        if not request.text().strip():
            return SemanticProbe(None, namespace, scope, None, "no text")
        if len(text) > self.max_text_chars:
            return SemanticProbe(None, namespace, scope, None, "text too long to match")
        try:
            vectors = await self.embed([text])
            vector = _normalised(vectors[0]) if len(vectors) == 1 else None
        except Exception as exc:  # the provider's problem, not the request's
            log.warning("semantic cache could not embed the request: %s", exc)
            self.errors += 1
            return SemanticProbe(None, namespace, scope, None, "embedding failed")
        if vector is None:
            self.errors += 1
            return SemanticProbe(None, namespace, scope, None, "embedding was not a vector")
        index = await self._index(namespace, vector.shape[0])
        best = index.best(vector, scope, self._clock())
        if best is None or best[1] < self.threshold:
            return SemanticProbe(None, namespace, scope, vector, "no similar request")
        row, similarity = best
        key = CacheKey(namespace, index.fingerprints[row])
        entry = await self.store.get(key)
        if entry is None:  # evicted or expired in the store: stop offering it
            index.forget(row)
            return SemanticProbe(None, namespace, scope, vector, "match no longer stored")
        return SemanticProbe(SemanticHit(key, entry, similarity), namespace, scope, vector, "hit")

    async def remember(self, probe: SemanticProbe, key: CacheKey, ttl: float) -> None:
        """Index the answer just stored at ``key`` under the probe's vector."""
        if probe.vector is None or probe.hit is not None:
            return
        index = await self._index(probe.namespace, probe.vector.shape[0])
        index.add(key.fingerprint, probe.scope, probe.vector, self._clock() + ttl)
        try:
            await self.store.put_vector(key, probe.scope, probe.vector, ttl)
        except Exception as exc:
            log.warning("semantic cache could not persist a vector: %s", exc)
            self.errors += 1

    def forget_namespace(self, namespace: str) -> None:
        """Drop the in-memory vectors of ``namespace`` (after ``store.delete_namespace``)."""
        self._indexes[namespace] = None
