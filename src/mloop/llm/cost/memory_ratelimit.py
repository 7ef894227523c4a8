"""Rate limits kept in this process's memory (one gateway process, no I/O on the request
path); the windows are described in :mod:`mloop.llm.cost.ratelimit`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping

from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.cost.ratelimit import (
    NO_LIMIT,
    WINDOW_SECONDS,
    LimitTable,
    RateLimitStatus,
    refusal,
)


def _retry_after(slots: Mapping[int, float], limit: int, now: float) -> float:
    """Seconds until the usage in the window falls below ``limit``."""
    oldest = math.floor(now) - WINDOW_SECONDS
    live = sorted((s, n) for s, n in slots.items() if s > oldest)
    remaining = sum(n for _, n in live)
    for second, n in live:
        remaining -= n
        if remaining < limit:
            return max(0.001, second + WINDOW_SECONDS - now)
    return 0.001


def _prune(slots: dict[int, float], now: float) -> dict[int, float]:
    oldest = math.floor(now) - WINDOW_SECONDS
    for second in [s for s in slots if s <= oldest]:
        del slots[second]
    return slots


class InMemoryRateLimiter:
    """In-memory rate limits. ``clock`` returns seconds (tests pass a fake one)."""

    def __init__(
        self, limits: Iterable[RateLimitConfig], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._limits = LimitTable(limits)
        self._clock = clock
        self._requests: dict[str, dict[int, float]] = {}
        self._tokens: dict[str, dict[int, float]] = {}

    async def acquire(self, token_name: str) -> RateLimitStatus:
        """Admit one request of ``token_name`` or raise ``RateLimitedError``."""
        limit = self._limits.limit_for(token_name)
        if limit is None:
            return NO_LIMIT
        now = self._clock()
        tokens_left: int | None = None
        if limit.tokens_per_minute is not None:
            used = _prune(self._tokens.setdefault(token_name, {}), now)
            total = sum(used.values())
            if total >= limit.tokens_per_minute:
                wait = _retry_after(used, limit.tokens_per_minute, now)
                raise refusal(token_name, "tokens", limit.tokens_per_minute, wait)
            tokens_left = int(limit.tokens_per_minute - total)
        requests_left: int | None = None
        if limit.requests_per_minute is not None:
            slots = _prune(self._requests.setdefault(token_name, {}), now)
            total = sum(slots.values())
            if total >= limit.requests_per_minute:
                wait = _retry_after(slots, limit.requests_per_minute, now)
                raise refusal(token_name, "requests", limit.requests_per_minute, wait)
            second = math.floor(now)
            slots[second] = slots.get(second, 0) + 1
            requests_left = int(limit.requests_per_minute - total - 1)
        return RateLimitStatus(requests_left, tokens_left)

    def record_tokens(self, token_name: str, n: int) -> None:
        """Count the ``n`` tokens (input plus output) a finished call of ``token_name`` used."""
        limit = self._limits.limit_for(token_name)
        if limit is None or limit.tokens_per_minute is None or n <= 0:
            return
        now = self._clock()
        slots = _prune(self._tokens.setdefault(token_name, {}), now)
        second = math.floor(now)
        slots[second] = slots.get(second, 0) + int(n)

    async def flush(self) -> None:
        """Nothing to wait for: counts are visible at once."""
