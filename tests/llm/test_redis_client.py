"""The gateway's Redis clients: pools sized from the configuration, outages remembered, and
the rate limiter's fallback to local counters and back to Redis (the real Redis at
127.0.0.1:6379 where a test needs one)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from tests.conftest import free_port, port_open, require_service

from mloop.core.errors import ValidationError
from mloop.llm.config import GatewayConfig
from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.cost.redis_ratelimit import RedisRateLimiter
from mloop.llm.errors import RateLimitedError
from mloop.llm.redis_client import RedisHealth, RedisPoolConfig, open_redis

URL = "redis://127.0.0.1:6379/0"
DOCS = Path(__file__).resolve().parents[2] / "docs"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.25

    def __call__(self) -> float:
        return self.now


def test_the_pool_waits_and_is_sized_from_the_configuration() -> None:
    config = GatewayConfig.from_dict(
        {"redis_pool": {"max_connections": 7, "pool_timeout_seconds": 3}}
    )
    client = open_redis(URL, config.redis_pool)
    pool = client.connection_pool
    assert isinstance(pool, aioredis.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (7, 3)
    kwargs = pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.0, 2.0)
    assert kwargs["retry"].get_retries() == 1
    asyncio.run(client.aclose())


def test_pool_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match=r"redis_pool\.max_connections: .*greater than"):
        GatewayConfig.from_dict({"redis_pool": {"max_connections": 0}})
    with pytest.raises(ValidationError, match=r"redis_pool\.size: Extra inputs"):
        GatewayConfig.from_dict({"redis_pool": {"size": 10}})
    assert GatewayConfig().redis_pool == RedisPoolConfig(max_connections=50)


def test_health_skips_redis_for_down_seconds_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    health = RedisHealth("rate limits", "local counters", down_seconds=5, clock=clock)
    assert health.available() and not health.is_down
    with caplog.at_level(logging.INFO, logger="mloop.llm.redis_client"):
        health.failed(ConnectionError("refused"))
        assert not health.available()
        clock.now += 5
        assert health.available()  # time to try again
        health.failed(ConnectionError("refused again"))  # still the same outage
        assert not health.available()
        health.succeeded()
        assert health.available() and not health.is_down
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Redis unavailable for the rate limits (ConnectionError: refused); "
        "using local counters until it answers again",
        "Redis answers again for the rate limits",
    ]
    assert health.failures == 2


def test_rate_limits_fall_back_to_local_counters_and_return_to_redis() -> None:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    prefix = f"mloop-rl-test-{uuid.uuid4().hex[:10]}"
    clock = Clock()
    health = RedisHealth("rate limits", "local counters", down_seconds=5, clock=clock)
    limits = [RateLimitConfig(token="*", requests_per_minute=2)]

    async def body() -> None:
        closed = open_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        gone = RedisRateLimiter(limits, closed, prefix=prefix, clock=clock, health=health)
        assert (await gone.acquire("t")).requests_remaining == 1
        assert health.is_down and health.failures == 1
        assert (await gone.acquire("t")).requests_remaining == 0  # Redis not tried again
        with pytest.raises(RateLimitedError, match="2 requests per minute"):
            await gone.acquire("t")
        assert health.failures == 1
        await gone.client.aclose()

        # A limiter whose Redis answers again after down_seconds goes back to it.
        back = RedisRateLimiter(limits, open_redis(URL), prefix=prefix, clock=clock, health=health)
        health.failed(ConnectionError("still down"))
        assert (await back.acquire("u")).requests_remaining == 1  # local: Redis skipped
        clock.now += 5
        assert (await back.acquire("u")).requests_remaining == 1  # Redis's own count
        assert not health.is_down
        await back.client.aclose()

    asyncio.run(body())
    conn = redis.Redis.from_url(URL)
    assert sum(int(n) for n in conn.hgetall(f"{prefix}:u:req").values()) == 1
    for key in conn.scan_iter(match=f"{prefix}*"):
        conn.delete(key)
    conn.close()


def test_the_redis_examples_in_the_docs_load_and_state_the_defaults() -> None:
    loaded = []
    for page in ("gateway.md", "gateway-cache-and-cost.md"):
        for block in re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), flags=re.S):
            if "redis_pool" in block:
                loaded.append(GatewayConfig.from_dict(yaml.safe_load(block), source=page))
    assert len(loaded) == 2
    # The block that says "these are the defaults" lists exactly the defaults.
    assert loaded[1].redis_pool == RedisPoolConfig()
    assert loaded[1].redis_url and loaded[1].cache_backend.backend == "redis"
