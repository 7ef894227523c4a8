"""The gateway's Redis clients: one way to create them, and how an outage is noticed.

Every client the gateway opens (the cache's and the shared counters') comes from
:func:`open_redis`, with a pool of at most ``max_connections`` connections in which a command
*waits* up to ``pool_timeout_seconds`` for a free connection: redis-py's default pool raises
``MaxConnectionsError`` at once instead, which turned a burst of requests into 500s. A command
that cannot get a connection in time, or whose reply takes longer than
``socket_timeout_seconds``, fails with a ``RedisError``; the callers then degrade (a cache
miss, local rate-limit counters) rather than fail the request.

:class:`RedisHealth` remembers an outage so that callers skip Redis for
``down_seconds`` instead of waiting for the timeouts on every request, and logs one warning
when Redis goes away and one line when it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # redis is the `redis` extra: imported only by its users
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)


class RedisPoolConfig(BaseModel):
    """``redis_pool:`` in the gateway file; applies to each Redis client of a gateway process
    (the cache's, ``cache_backend.url``, and the counters', ``redis_url``)."""

    model_config = ConfigDict(extra="forbid")

    # Connections a process opens at most per client; commands beyond wait for one.
    max_connections: int = Field(default=50, ge=1, le=10_000)
    # How long a command waits for a free connection before it counts as a Redis failure.
    pool_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    # How long a command waits for Redis's reply, and for a new connection to open.
    socket_timeout_seconds: float = Field(default=2.0, gt=0, le=600)
    connect_timeout_seconds: float = Field(default=2.0, gt=0, le=600)
    # After a failure, Redis is left alone for this long (cache misses, local counters).
    down_seconds: float = Field(default=5.0, ge=0, le=3600)


def open_redis(url: str, pool: RedisPoolConfig | None = None) -> aioredis.Redis:
    """An asyncio client for ``url`` over a waiting (blocking) pool sized by ``pool``.

    One immediate retry only: it covers a pooled connection that Redis closed; redis-py's
    default of ten retries with backoff would hold a request for seconds in an outage."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = pool or RedisPoolConfig()
    connections = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool.max_connections,
        timeout=pool.pool_timeout_seconds,
        socket_timeout=pool.socket_timeout_seconds,
        socket_connect_timeout=pool.connect_timeout_seconds,
        retry=Retry(NoBackoff(), 1),
    )
    return aioredis.Redis.from_pool(connections)


class RedisHealth:
    """Whether Redis may be tried now, for the users of one client (see the module
    docstring). ``what`` names them in the log; ``clock`` returns monotonic seconds."""

    def __init__(
        self,
        what: str,
        fallback: str,
        *,
        down_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.fallback = fallback
        self.down_seconds = down_seconds
        self._clock = clock
        self._down_until: float | None = None
        self.failures = 0

    @property
    def is_down(self) -> bool:
        """True while an outage is remembered."""
        return self._down_until is not None

    def available(self) -> bool:
        """Whether to try Redis now: always, unless a failure happened in the last
        ``down_seconds`` (then the caller uses its fallback without waiting)."""
        return self._down_until is None or self._clock() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        """Record a failed command; the first of an outage logs a warning."""
        self.failures += 1
        if self._down_until is None:
            log.warning(
                "Redis unavailable for the %s (%s: %s); using %s until it answers again",
                self.what,
                type(exc).__name__,
                exc,
                self.fallback,
            )
        self._down_until = self._clock() + self.down_seconds

    def succeeded(self) -> None:
        """Record a command that worked; ends an outage."""
        if self._down_until is not None:
            self._down_until = None
            log.info("Redis answers again for the %s", self.what)
