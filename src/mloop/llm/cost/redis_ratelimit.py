"""Rate limits shared by the gateway replicas through Redis; the windows are described in
:mod:`mloop.llm.cost.ratelimit`.

One Lua script per request checks and counts atomically, in hashes ``<prefix>:<token>:req`` /
``:tok`` of slot -> count.

When Redis fails or is slow (no reply within the pool's timeouts), the limiter falls back to
this process's own counters (:class:`~mloop.llm.cost.memory_ratelimit.InMemoryRateLimiter`)
with one logged warning per outage, and leaves Redis alone for the health's ``down_seconds``
before trying it again (:class:`~mloop.llm.redis_client.RedisHealth`). During an outage each
replica enforces the limits on its own, so the replicas together admit up to their number
times the limit. Token counts are kept locally too, so the local windows are current when an
outage begins.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.cost.memory_ratelimit import InMemoryRateLimiter
from mloop.llm.cost.ratelimit import (
    NO_LIMIT,
    WINDOW_SECONDS,
    LimitTable,
    RateLimitStatus,
    refusal,
)
from mloop.llm.redis_client import RedisHealth

if TYPE_CHECKING:  # redis is the `redis` extra: imported only by its users
    import redis.asyncio as aioredis

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


class RedisRateLimiter:
    """Rate limits shared by every replica that uses the same Redis and ``prefix``.

    ``clock`` gives the time in seconds passed to Redis (replicas' clocks must agree to
    about a second, as NTP keeps them). ``health`` decides when Redis is tried (see the
    module docstring).
    """

    def __init__(
        self,
        limits: Iterable[RateLimitConfig],
        client: aioredis.Redis,
        *,
        prefix: str = "mloop:ratelimit",
        clock: Callable[[], float] = time.time,
        health: RedisHealth | None = None,
    ) -> None:
        limits = list(limits)
        self._limits = LimitTable(limits)
        self._local = InMemoryRateLimiter(limits, clock=clock)
        self.health = health or RedisHealth("rate limits", "this process's own counters")
        self.client = client
        self.prefix = prefix
        self._clock = clock
        self._script = client.register_script(_ACQUIRE)
        self._pending: set[asyncio.Task[None]] = set()

    def _keys(self, token_name: str) -> tuple[str, str]:
        return f"{self.prefix}:{token_name}:req", f"{self.prefix}:{token_name}:tok"

    async def acquire(self, token_name: str) -> RateLimitStatus:
        """Admit one request of ``token_name`` or raise ``RateLimitedError``; counted in
        this process alone while Redis is unavailable."""
        limit = self._limits.limit_for(token_name)
        if limit is None:
            return NO_LIMIT
        if not self.health.available():
            return await self._local.acquire(token_name)
        try:
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
        except RedisError as exc:
            self.health.failed(exc)  # logs the first failure of an outage
            return await self._local.acquire(token_name)
        self.health.succeeded()
        if int(result[0]) == 1:
            requests_left, tokens_left = int(result[1]), int(result[2])
            return RateLimitStatus(
                requests_left if requests_left >= 0 else None,
                tokens_left if tokens_left >= 0 else None,
            )
        kind = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
        raise refusal(token_name, kind, int(result[3]), int(result[2]) / 1000)

    def record_tokens(self, token_name: str, n: int) -> None:
        """Count the ``n`` tokens a finished call of ``token_name`` used, written to Redis in
        the background (the answer is not held up by the write), and in this process's
        counters (used while Redis is unavailable). Needs a running loop."""
        limit = self._limits.limit_for(token_name)
        if limit is None or limit.tokens_per_minute is None or n <= 0:
            return
        self._local.record_tokens(token_name, n)
        if not self.health.available():
            return
        task = asyncio.get_running_loop().create_task(self._add_tokens(token_name, int(n)))
        self._pending.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._pending.discard)

    async def _add_tokens(self, token_name: str, n: int) -> None:
        key = self._keys(token_name)[1]
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, str(math.floor(self._clock())), n)
                pipe.expire(key, WINDOW_SECONDS + 1)
                await pipe.execute()
        except RedisError as exc:
            self.health.failed(exc)  # the count stays in the local window only

    async def flush(self) -> None:
        """Wait for the token counts still being written."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
