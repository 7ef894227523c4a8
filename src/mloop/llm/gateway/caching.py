"""The response cache as the gateway uses it: decide, look up (exact, then semantic), store.

A cache failure never fails a request: a store that cannot be read is a miss, one that cannot
be written is skipped, and both are counted in ``errors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mloop.llm.cache.config import CacheConfig
from mloop.llm.cache.fingerprint import fingerprint
from mloop.llm.cache.policy import CacheDecision, decide
from mloop.llm.cache.semantic import SemanticCache, SemanticProbe
from mloop.llm.cache.store import CacheEntry, CacheKey, CacheStore
from mloop.llm.types import ChatRequest

_log = logging.getLogger(__name__)


@dataclass
class CacheLookup:
    """A lookup's outcome: the entry on a hit (``kind`` exact or semantic), and what storing
    the answer of a miss needs."""

    decision: CacheDecision
    route: str | None = None
    key: CacheKey | None = None
    entry: CacheEntry | None = None
    kind: str = "miss"
    similarity: float | None = None
    probe: SemanticProbe | None = None


class GatewayCache:
    """One store for the gateway; per-route settings and semantic caches."""

    def __init__(
        self,
        store: CacheStore,
        default: CacheConfig,
        routes: Mapping[str, CacheConfig | None],
        semantic: Mapping[str, SemanticCache] | None = None,
    ) -> None:
        self.store = store
        self.default = default
        self.routes = dict(routes)
        self.semantic = dict(semantic or {})
        self.errors = 0

    def config_for(self, route: str | None) -> CacheConfig:
        return (self.routes.get(route) if route else None) or self.default

    def decide(
        self, request: ChatRequest, route: str | None, headers: Mapping[str, str]
    ) -> CacheDecision:
        return decide(request, self.config_for(route), headers)

    async def lookup(
        self, request: ChatRequest, route: str | None, decision: CacheDecision
    ) -> CacheLookup:
        found = CacheLookup(decision, route)
        if not (decision.read or decision.write):
            return found
        found.key = CacheKey(
            decision.namespace,
            fingerprint(request, target=request.model, namespace=decision.namespace),
        )
        if not decision.read:
            return found
        try:
            entry = await self.store.get(found.key)
        except Exception:
            self.errors += 1
            _log.exception("cache lookup failed")
            return found
        if entry is not None:
            found.entry, found.kind = entry, "exact"
            return found
        semantic = self.semantic.get(route or "")
        if semantic is not None:
            probe = await semantic.lookup(
                request, target=request.model, namespace=decision.namespace
            )
            found.probe = probe
            if probe.hit is not None:
                found.entry, found.kind = probe.hit.entry, "semantic"
                found.similarity = probe.hit.similarity
        return found

    async def remember(
        self, found: CacheLookup, body: dict[str, Any], cost_usd: float, provider: str, model: str
    ) -> None:
        """Store a fresh answer when the decision allows it."""
        if not found.decision.write or found.key is None:
            return
        now = time.time()
        entry = CacheEntry(
            body=body,
            created=now,
            expires=now + found.decision.ttl,
            cost_usd=cost_usd,
            provider=provider,
            model=model,
        )
        try:
            stored = await self.store.put(found.key, entry, found.decision.ttl)
            if stored and found.probe is not None and found.probe.vector is not None:
                semantic = self.semantic.get(found.route or "")
                if semantic is not None:
                    await semantic.remember(found.probe, found.key, found.decision.ttl)
        except Exception:
            self.errors += 1
            _log.exception("cache write failed")

    async def aclose(self) -> None:
        await self.store.aclose()
