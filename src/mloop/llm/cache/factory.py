"""Opening the cache store the configuration names: the one module that knows every store
implementation, so the interface (:mod:`mloop.llm.cache.store`) imports none of them."""

from __future__ import annotations

from pathlib import Path

from mloop.llm.cache.config import CacheBackendConfig
from mloop.llm.cache.sqlite_store import SqliteCacheStore
from mloop.llm.cache.store import CacheStore
from mloop.llm.redis_client import RedisPoolConfig


def open_cache_store(
    backend_config: CacheBackendConfig, home: Path, redis_pool: RedisPoolConfig | None = None
) -> CacheStore:
    """The store ``cache_backend:`` names: SQLite at ``path`` (default
    ``home/llm-cache.db``) or Redis at ``url`` (its pool sized by ``redis_pool``)."""
    if backend_config.backend == "redis":
        # Imported on use: redis is an optional extra.
        from mloop.llm.cache.redis_store import RedisCacheStore

        return RedisCacheStore.from_url(
            backend_config.url or "",
            pool=redis_pool,
            key_prefix=backend_config.key_prefix,
            max_body_bytes=backend_config.max_body_bytes,
        )
    path = Path(backend_config.path) if backend_config.path else home / "llm-cache.db"
    return SqliteCacheStore(
        path,
        max_entries=backend_config.max_entries,
        max_body_bytes=backend_config.max_body_bytes,
    )
