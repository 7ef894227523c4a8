"""Rate limits per token: requests and tokens per minute.

Both count over a sliding 60-second window in one-second slots: a request is refused when
the requests already admitted in the last 60 seconds reach ``requests_per_minute``, or when
the tokens already used (reported after each call with ``record_tokens``) reach
``tokens_per_minute``. The refusal is :class:`RateLimitedError` (429) with ``retry_after``:
the seconds until enough of the window has passed. A call's tokens are only known after it,
so one large call can overshoot the token limit; the next requests then wait until its slot
leaves the window.

:class:`RateLimiter` is in memory (one gateway process, no I/O on the request path).
:class:`RedisRateLimiter` shares the windows among replicas: one Lua script per request
checks and counts atomically, in hashes ``<prefix>:<token>:req`` / ``:tok`` of slot -> count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.errors import RateLimitedError

if TYPE_CHECKING:  # redis is the `redis` extra: imported only by its users
    import redis.asyncio as aioredis

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimitStatus:
    """What is left in the window after an admitted request (for ``x-ratelimit-*`` response
    headers); None where no such limit applies."""

    requests_remaining: int | None
    tokens_remaining: int | None


def _limits_by_token(limits: Iterable[RateLimitConfig]) -> dict[str, RateLimitConfig]:
    by_token: dict[str, RateLimitConfig] = {}
    for limit in limits:
        if limit.token in by_token:
            raise ValueError(f"rate_limits: token {limit.token!r} has two entries; keep one")
        by_token[limit.token] = limit
    return by_token


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


def _refusal(token_name: str, what: str, limit: int, retry_after: float) -> RateLimitedError:
    return RateLimitedError(
        f"rate limit of token {token_name!r} reached: {limit} {what} per minute; "
        f"retry in {math.ceil(retry_after)} s",
        retry_after=retry_after,
    )


class _Limits:
    """Which configured limit applies to a token."""

    def __init__(self, limits: Iterable[RateLimitConfig]) -> None:
        self._by_token = _limits_by_token(limits)

    def limit_for(self, token_name: str) -> RateLimitConfig | None:
        """The token's own limit, else the ``"*"`` limit, else None."""
        return self._by_token.get(token_name) or self._by_token.get("*")


class RateLimiter(_Limits):
    """In-memory rate limits; see the module docstring. ``clock`` returns seconds (tests pass
    a fake one)."""

    def __init__(
        self, limits: Iterable[RateLimitConfig], *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(limits)
        self._clock = clock
        self._requests: dict[str, dict[int, float]] = {}
        self._tokens: dict[str, dict[int, float]] = {}

    @staticmethod
    def _prune(slots: dict[int, float], now: float) -> dict[int, float]:
        oldest = math.floor(now) - WINDOW_SECONDS
        for second in [s for s in slots if s <= oldest]:
            del slots[second]
        return slots

    def acquire(self, token_name: str) -> RateLimitStatus:
        """Admit one request of ``token_name`` or raise ``RateLimitedError``."""
        limit = self.limit_for(token_name)
        if limit is None:
            return RateLimitStatus(None, None)
        now = self._clock()
        tokens_left: int | None = None
        if limit.tokens_per_minute is not None:
            used = self._prune(self._tokens.setdefault(token_name, {}), now)
            total = sum(used.values())
            if total >= limit.tokens_per_minute:
                wait = _retry_after(used, limit.tokens_per_minute, now)
                raise _refusal(token_name, "tokens", limit.tokens_per_minute, wait)
            tokens_left = int(limit.tokens_per_minute - total)
        requests_left: int | None = None
        if limit.requests_per_minute is not None:
            slots = self._prune(self._requests.setdefault(token_name, {}), now)
            total = sum(slots.values())
            if total >= limit.requests_per_minute:
                wait = _retry_after(slots, limit.requests_per_minute, now)
                raise _refusal(token_name, "requests", limit.requests_per_minute, wait)
            second = math.floor(now)
            slots[second] = slots.get(second, 0) + 1
            requests_left = int(limit.requests_per_minute - total - 1)
        return RateLimitStatus(requests_left, tokens_left)

    def record_tokens(self, token_name: str, n: int) -> None:
        """Count the ``n`` tokens (input plus output) a finished call of ``token_name`` used."""
        limit = self.limit_for(token_name)
        if limit is None or limit.tokens_per_minute is None or n <= 0:
            return
        now = self._clock()
        slots = self._prune(self._tokens.setdefault(token_name, {}), now)
        second = math.floor(now)
        slots[second] = slots.get(second, 0) + int(n)


# KEYS: requests hash, tokens hash. ARGV: now (seconds, float), rpm, tpm (0 = no limit),
# window. Returns {1, requests_left, tokens_left} or {0, kind, retry_after_ms, limit}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local current = math.floor(now)
local oldest = current - window
local function live(key)
  local data = redis.call('HGETALL', key)
  local slots = {}
  local total = 0
  for i = 1, #data, 2 do
    local second = tonumber(data[i])
    local n = tonumber(data[i + 1])
    if second <= oldest then
      redis.call('HDEL', key, data[i])
    else
      table.insert(slots, {second, n})
      total = total + n
    end
  end
  table.sort(slots, function(a, b) return a[1] < b[1] end)
  return slots, total
end
local function wait_ms(slots, total, limit)
  for _, slot in ipairs(slots) do
    total = total - slot[2]
    if total < limit then
      return math.max(1, math.ceil((slot[1] + window - now) * 1000))
    end
  end
  return 1
end
local tokens_left = -1
if tpm > 0 then
  local slots, total = live(KEYS[2])
  if total >= tpm then
    return {0, 'tokens', wait_ms(slots, total, tpm), tpm}
  end
  tokens_left = tpm - total
end
local requests_left = -1
if rpm > 0 then
  local slots, total = live(KEYS[1])
  if total >= rpm then
    return {0, 'requests', wait_ms(slots, total, rpm), rpm}
  end
  redis.call('HINCRBY', KEYS[1], current, 1)
  redis.call('EXPIRE', KEYS[1], window + 1)
  requests_left = rpm - total - 1
end
return {1, requests_left, tokens_left}
"""


class RedisRateLimiter(_Limits):
    """Rate limits shared by every replica that uses the same Redis and ``prefix``.

    ``clock`` gives the time in seconds passed to Redis (replicas' clocks must agree to
    about a second, as NTP keeps them).
    """

    def __init__(
        self,
        limits: Iterable[RateLimitConfig],
        client: aioredis.Redis,
        *,
        prefix: str = "mloop:ratelimit",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(limits)
        self.client = client
        self.prefix = prefix
        self._clock = clock
        self._script = client.register_script(_ACQUIRE)

    def _keys(self, token_name: str) -> tuple[str, str]:
        return f"{self.prefix}:{token_name}:req", f"{self.prefix}:{token_name}:tok"

    async def acquire(self, token_name: str) -> RateLimitStatus:
        """Admit one request of ``token_name`` or raise ``RateLimitedError``."""
        limit = self.limit_for(token_name)
        if limit is None:
            return RateLimitStatus(None, None)
        result = cast(
            "list[Any]",
            await self._script(
                keys=list(self._keys(token_name)),
                args=[
                    repr(self._clock()),
                    limit.requests_per_minute or 0,
                    limit.tokens_per_minute or 0,
                    WINDOW_SECONDS,
                ],
            ),
        )
        if int(result[0]) == 1:
            requests_left, tokens_left = int(result[1]), int(result[2])
            return RateLimitStatus(
                requests_left if requests_left >= 0 else None,
                tokens_left if tokens_left >= 0 else None,
            )
        kind = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
        raise _refusal(token_name, kind, int(result[3]), int(result[2]) / 1000)

    async def record_tokens(self, token_name: str, n: int) -> None:
        """Count the ``n`` tokens a finished call of ``token_name`` used."""
        limit = self.limit_for(token_name)
        if limit is None or limit.tokens_per_minute is None or n <= 0:
            return
        key = self._keys(token_name)[1]
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, str(math.floor(self._clock())), int(n))
            pipe.expire(key, WINDOW_SECONDS + 1)
            await pipe.execute()
