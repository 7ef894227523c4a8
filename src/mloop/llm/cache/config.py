"""Configuration of the response cache (the ``cache:`` section of the gateway file, and the
per-route ``cache:`` override) and of where cached answers live (``cache_backend:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Namespaces share the charset of route and provider names: they end up in Redis keys and
# in the call log, so no separators, spaces or control characters.
NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class SemanticCacheConfig(BaseModel):
    """Answer a request with the cached answer of a similar earlier one. Off by default:
    two prompts that differ in one word ("cancel" / "don't cancel") can be close in
    embedding space. See docs/gateway.md before turning it on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    threshold: float = Field(default=0.95, gt=0, le=1)
    # the embedding route or provider model used to embed requests
    embedding_model: str = "local/all-MiniLM-L6-v2"
    # vectors kept in memory per namespace; the oldest go first
    max_entries: int = Field(default=10_000, ge=1, le=1_000_000)
    # requests whose text is longer are not matched semantically: embedding models truncate
    # long inputs, so two long conversations that differ at the end would look identical
    max_text_chars: int = Field(default=8_000, ge=1)


class CacheConfig(BaseModel):
    """``mode``: ``auto`` caches only deterministic requests (temperature 0 or a seed),
    ``on`` caches every request, ``off`` none."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"] = "auto"
    ttl_seconds: int = Field(default=24 * 3600, ge=1)
    # upper bound of the per-request ``x-mloop-cache-ttl`` header (longer values are clamped)
    max_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=1)
    namespace: str = Field(default="default", pattern=NAMESPACE_PATTERN)
    semantic: SemanticCacheConfig = Field(default_factory=SemanticCacheConfig)

    @model_validator(mode="after")
    def _ttl_within_max(self) -> CacheConfig:
        if self.ttl_seconds > self.max_ttl_seconds:
            raise ValueError(
                f"ttl_seconds ({self.ttl_seconds}) is above max_ttl_seconds "
                f"({self.max_ttl_seconds}): lower ttl_seconds or raise max_ttl_seconds"
            )
        return self


class CacheBackendConfig(BaseModel):
    """Where cached answers live: a SQLite file (default ``MLOOP_HOME/llm-cache.db``) or
    Redis (``url: redis://host:6379/0``)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "redis"] = "sqlite"
    path: str | None = None
    url: str | None = None
    # SQLite: entries kept before the expired and then the oldest are evicted. Redis evicts
    # by its own ``maxmemory-policy`` instead.
    max_entries: int = Field(default=100_000, ge=1)
    # answers whose serialised body is larger are not stored (counted in the stats)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    # Redis: keys are ``<key_prefix>:<namespace>:<fingerprint>``
    key_prefix: str = Field(default="mloop:cache", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

    @model_validator(mode="after")
    def _redis_needs_url(self) -> CacheBackendConfig:
        if self.backend == "redis" and not self.url:
            raise ValueError("cache_backend: backend redis needs url (redis://host:6379/0)")
        return self
