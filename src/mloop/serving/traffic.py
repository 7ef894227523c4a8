"""Which variant answers a request, and which shadows get a copy.

A request key (a user or session id) is hashed into one of 10,000 buckets; variant weights
are cut points on that line. The same key lands in the same bucket every time, so a caller
sticks to its variant, and raising a canary from 10 to 25 percent only moves callers onto
the canary, never back and forth. Without a key the request id is used: a fresh draw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, TypeVar

BUCKETS = 10_000


class Weighted(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> int: ...


W = TypeVar("W", bound=Weighted)


def bucket(key: str, salt: str) -> int:
    """The key's bucket in [0, BUCKETS) for ``salt`` (an endpoint, or a shadow)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def choose(variants: Sequence[W], key: str, salt: str) -> W:
    """The variant whose share of the bucket line holds ``key``'s bucket.

    ``variants`` are the serving ones in a fixed order, weights in percent adding up to 100
    (variants of weight 0 are never chosen).
    """
    point = bucket(key, salt)
    edge = 0
    for variant in variants:
        edge += variant.weight * (BUCKETS // 100)
        if point < edge:
            return variant
    return next(v for v in reversed(variants) if v.weight > 0)


def mirrored(shadows: Sequence[W], key: str, salt: str) -> list[W]:
    """The shadow variants that get a copy of this request (each its ``weight`` percent)."""
    return [
        s
        for s in shadows
        if bucket(key, f"{salt}\x00shadow\x00{s.name}") < s.weight * (BUCKETS // 100)
    ]
