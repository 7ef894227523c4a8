"""The gateway's response cache.

- :func:`fingerprint` / :func:`embedding_fingerprint`: the cache key of a request;
- :func:`decide`: whether a request reads and writes the cache (mode and ``x-mloop-cache``
  headers);
- :class:`CacheStore` and :func:`open_cache_store`: SQLite (default) or Redis storage;
- :class:`SemanticCache`: the optional similarity cache (off by default; read its risks in
  docs/gateway-cache-and-cost.md).
"""

from mloop.llm.cache.config import CacheBackendConfig, CacheConfig, SemanticCacheConfig
from mloop.llm.cache.factory import open_cache_store
from mloop.llm.cache.fingerprint import (
    canonical_chat,
    embedding_fingerprint,
    fingerprint,
    semantic_scope,
)
from mloop.llm.cache.policy import CacheDecision, decide
from mloop.llm.cache.semantic import EmbedFunction, SemanticCache, SemanticHit, SemanticProbe
from mloop.llm.cache.store import (
    CacheEntry,
    CacheKey,
    CacheStats,
    CacheStore,
    StoredVector,
)

__all__ = [
    "CacheBackendConfig",
    "CacheConfig",
    "CacheDecision",
    "CacheEntry",
    "CacheKey",
    "CacheStats",
    "CacheStore",
    "EmbedFunction",
    "SemanticCache",
    "SemanticCacheConfig",
    "SemanticHit",
    "SemanticProbe",
    "StoredVector",
    "canonical_chat",
    "decide",
    "embedding_fingerprint",
    "fingerprint",
    "open_cache_store",
    "semantic_scope",
]
