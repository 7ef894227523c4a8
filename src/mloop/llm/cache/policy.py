"""Whether one request reads and writes the cache: the configured mode plus the request's
``x-mloop-cache*`` headers.

``mode: auto`` caches only deterministic requests (temperature 0 or a seed) and embeddings;
``on`` caches every request; ``off`` none, whatever the headers say (an operator turns a
route's cache off for a reason a client cannot know). Headers:

- ``x-mloop-cache``: comma-separated directives. ``bypass`` neither reads nor writes;
  ``refresh`` does not read but writes the fresh answer; ``no-store`` reads but does not
  write; ``force`` caches a request that is not deterministic. ``force, refresh`` and
  ``force, no-store`` combine as the words say.
- ``x-mloop-cache-ttl``: seconds the answer stays cached (1 or more; values above the
  configured ``max_ttl_seconds`` are clamped to it).
- ``x-mloop-cache-namespace``: a separate cache for this request (letters, digits, ``.``,
  ``_`` and ``-``, 128 at most, starting with a letter or digit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mloop.core.errors import ValidationError
from mloop.llm.cache.config import NAMESPACE_PATTERN, CacheConfig
from mloop.llm.types import ChatRequest, EmbeddingRequest

HEADER = "x-mloop-cache"
TTL_HEADER = "x-mloop-cache-ttl"
NAMESPACE_HEADER = "x-mloop-cache-namespace"

DIRECTIVES = frozenset({"bypass", "refresh", "no-store", "force"})
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_MAX_HEADER_CHARS = 256


@dataclass(frozen=True)
class CacheDecision:
    """What the gateway does with the cache for one request.

    ``reason`` is a short human explanation (for logs and the ``x-mloop-cache`` response
    header); :attr:`log_status` is the call log's ``cache`` value when the request is not
    answered from the cache.
    """

    read: bool
    write: bool
    ttl: int
    namespace: str
    reason: str
    bypassed: bool = False

    @property
    def log_status(self) -> Literal["miss", "bypass", "off"]:
        """``miss`` when the cache was consulted or filled, ``bypass`` when a header turned it
        off for this request, ``off`` when the mode or the request's settings did."""
        if self.read or self.write:
            return "miss"
        return "bypass" if self.bypassed else "off"


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The cache headers, looked up case-insensitively (a plain dict is not)."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(HEADER):
            found[lower] = value
    return found


def _directives(raw: str) -> frozenset[str]:
    if len(raw) > _MAX_HEADER_CHARS:
        raise ValidationError(f"header {HEADER} is too long", field=HEADER)
    words = frozenset(word.strip().lower() for word in raw.split(",") if word.strip())
    unknown = sorted(words - DIRECTIVES)
    if unknown:
        raise ValidationError(
            f"header {HEADER}: unknown directive {unknown[0]!r}; use one or more of "
            "bypass, refresh, no-store, force (comma-separated)",
            field=HEADER,
        )
    if "bypass" in words and len(words) > 1:
        raise ValidationError(
            f"header {HEADER}: bypass cannot be combined with other directives", field=HEADER
        )
    return words


def _ttl(raw: str, config: CacheConfig) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ValidationError(
            f"header {TTL_HEADER} must be a whole number of seconds, got {raw[:40]!r}",
            field=TTL_HEADER,
        )
    seconds = int(text)
    if seconds < 1:
        raise ValidationError(f"header {TTL_HEADER} must be 1 or more", field=TTL_HEADER)
    return min(seconds, config.max_ttl_seconds)


def _namespace(raw: str) -> str:
    name = raw.strip()
    if not _NAMESPACE.match(name):
        raise ValidationError(
            f"header {NAMESPACE_HEADER} {raw[:40]!r} is not a valid namespace: use letters, "
            "digits, '.', '_' and '-' (at most 128, starting with a letter or digit)",
            field=NAMESPACE_HEADER,
        )
    return name


def decide(
    request: ChatRequest | EmbeddingRequest,
    config: CacheConfig,
    headers: Mapping[str, str],
) -> CacheDecision:
    """The cache decision for ``request`` under ``config`` (the route's ``cache:`` or the
    gateway's) and the request's HTTP headers.

    Raises ``ValidationError`` naming the header when a cache header is malformed: a
    client that asked for something specific should learn that it did not get it.
    """
    found = _headers(headers)
    words = _directives(found[HEADER]) if HEADER in found else frozenset()
    ttl = _ttl(found[TTL_HEADER], config) if TTL_HEADER in found else config.ttl_seconds
    namespace = (
        _namespace(found[NAMESPACE_HEADER]) if NAMESPACE_HEADER in found else config.namespace
    )

    def result(read: bool, write: bool, reason: str, bypassed: bool = False) -> CacheDecision:
        return CacheDecision(read, write, ttl, namespace, reason, bypassed)

    if config.mode == "off":
        return result(False, False, "cache mode off")
    if "bypass" in words:
        return result(False, False, "bypass header", bypassed=True)
    deterministic = isinstance(request, EmbeddingRequest) or request.is_deterministic
    if config.mode == "on":
        reason = "cache mode on"
    elif "force" in words:
        reason = "force header"
    elif deterministic:
        reason = "deterministic request"
    else:
        return result(False, False, "not deterministic (set temperature 0 or a seed, or force)")
    read = "refresh" not in words
    write = "no-store" not in words
    if not read:
        reason += ", refresh header"
    if not write:
        reason += ", no-store header"
    return result(read, write, reason, bypassed=not (read or write))
