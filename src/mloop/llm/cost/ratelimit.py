"""Rate limits per token: requests and tokens per minute, and the interface of a limiter.

Both count over a sliding 60-second window in one-second slots: a request is refused when
the requests already admitted in the last 60 seconds reach ``requests_per_minute``, or when
the tokens already used (reported after each call with ``record_tokens``) reach
``tokens_per_minute``. The refusal is :class:`RateLimitedError` (429) with ``retry_after``:
the seconds until enough of the window has passed. A call's tokens are only known after it,
so one large call can overshoot the token limit; the next requests then wait until its slot
leaves the window.

Two implementations keep the windows: ``memory_ratelimit.InMemoryRateLimiter`` (one gateway
process, no I/O on the request path) and ``redis_ratelimit.RedisRateLimiter`` (shared by the
replicas that use the same Redis).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.errors import RateLimitedError

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimitStatus:
    """What is left in the window after an admitted request (for ``x-ratelimit-*`` response
    headers); None where no such limit applies."""

    requests_remaining: int | None
    tokens_remaining: int | None


NO_LIMIT = RateLimitStatus(None, None)


class RateLimiter(Protocol):
    """Admits requests per token and counts the tokens they used."""

    async def acquire(self, token_name: str) -> RateLimitStatus:
        """Admit one request of ``token_name`` or raise ``RateLimitedError``."""
        ...

    def record_tokens(self, token_name: str, n: int) -> None:
        """Count the ``n`` tokens (input plus output) a finished call of ``token_name`` used.

        Never waits for I/O: it is called on the request path after the answer is out; a
        limiter that must write somewhere does so in the background."""
        ...

    async def flush(self) -> None:
        """Wait until every token count recorded so far is visible to ``acquire``."""
        ...


class LimitTable:
    """Which configured limit applies to a token."""

    def __init__(self, limits: Iterable[RateLimitConfig]) -> None:
        by_token: dict[str, RateLimitConfig] = {}
        for limit in limits:
            if limit.token in by_token:
                raise ValueError(f"rate_limits: token {limit.token!r} has two entries; keep one")
            by_token[limit.token] = limit
        self._by_token = by_token

    def limit_for(self, token_name: str) -> RateLimitConfig | None:
        """The token's own limit, else the ``"*"`` limit, else None."""
        return self._by_token.get(token_name) or self._by_token.get("*")


def refusal(token_name: str, what: str, limit: int, retry_after: float) -> RateLimitedError:
    """The error that refuses a request of ``token_name``: ``what`` (requests or tokens)
    reached ``limit`` per minute."""
    return RateLimitedError(
        f"rate limit of token {token_name!r} reached: {limit} {what} per minute; "
        f"retry in {math.ceil(retry_after)} s",
        retry_after=retry_after,
    )
