"""Rate limits per token, in memory and shared through the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis
from pydantic import ValidationError as PydanticError
from tests.conftest import port_open, require_service

from mloop.llm.cost.config import RateLimitConfig
from mloop.llm.cost.memory_ratelimit import InMemoryRateLimiter
from mloop.llm.cost.ratelimit import RateLimiter, RateLimitStatus
from mloop.llm.cost.redis_ratelimit import RedisRateLimiter
from mloop.llm.errors import GatewayError, RateLimitedError

URL = "redis://127.0.0.1:6379/0"


def admit(limiter: RateLimiter, token_name: str) -> RateLimitStatus:
    """``acquire`` run to completion (the in-memory limiter never waits)."""
    return asyncio.run(limiter.acquire(token_name))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.25

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_refuses_with_retry_after() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter([RateLimitConfig(token="*", requests_per_minute=3)], clock=clock)
    statuses = [admit(limiter, "alice") for _ in range(3)]
    assert [s.requests_remaining for s in statuses] == [2, 1, 0]
    assert statuses[0].tokens_remaining is None
    with pytest.raises(GatewayError) as info:
        admit(limiter, "alice")
    err = info.value
    assert isinstance(err, RateLimitedError)
    assert (err.code, err.http_status) == ("RATE_LIMITED", 429)
    assert "alice" in err.message and "3 requests per minute" in err.message
    # all three were admitted in the second that started at ...000; free 60 s after it
    assert err.retry_after == pytest.approx(59.75)
    # each token has its own window under "*"
    assert admit(limiter, "bob").requests_remaining == 2


def test_window_slides() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter([RateLimitConfig(requests_per_minute=2)], clock=clock)
    admit(limiter, "t")
    clock.now += 30
    admit(limiter, "t")
    with pytest.raises(GatewayError) as info:
        admit(limiter, "t")
    # the first request leaves the window 60 s after its second began
    assert info.value.retry_after == pytest.approx(29.75)
    clock.now += 30
    admit(limiter, "t")  # the first has left, the second is still in
    with pytest.raises(
        GatewayError, match="rate limit of token 't' reached: 2 requests per minute"
    ):
        admit(limiter, "t")


def test_refused_requests_do_not_count() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter([RateLimitConfig(requests_per_minute=1)], clock=clock)
    admit(limiter, "t")
    for _ in range(100):
        with pytest.raises(
            GatewayError, match="rate limit of token 't' reached: 1 requests per minute"
        ):
            admit(limiter, "t")
    clock.now += 60
    admit(limiter, "t")


def test_tokens_per_minute_refuses_once_used_tokens_reach_the_limit() -> None:
    clock = Clock()
    limiter = InMemoryRateLimiter([RateLimitConfig(tokens_per_minute=1000)], clock=clock)
    assert admit(limiter, "t").tokens_remaining == 1000
    limiter.record_tokens("t", 600)
    assert admit(limiter, "t").tokens_remaining == 400
    clock.now += 10
    limiter.record_tokens("t", 900)  # overshoots: the call's size was not known before
    with pytest.raises(GatewayError) as info:
        admit(limiter, "t")
    assert "1000 tokens per minute" in info.value.message
    # dropping the first slot (600) leaves 900 < 1000: free when that slot leaves
    assert info.value.retry_after == pytest.approx(49.75)
    clock.now += 50
    admit(limiter, "t")


def test_specific_token_limit_replaces_the_default() -> None:
    limiter = InMemoryRateLimiter(
        [
            RateLimitConfig(token="*", requests_per_minute=1, tokens_per_minute=10),
            RateLimitConfig(token="batch-job", requests_per_minute=100),
        ],
        clock=Clock(),
    )
    for _ in range(50):
        admit(limiter, "batch-job")
    limiter.record_tokens("batch-job", 10_000)
    assert admit(limiter, "batch-job").tokens_remaining is None
    admit(limiter, "other")
    with pytest.raises(GatewayError, match="rate limit of token 'other' reached"):
        admit(limiter, "other")


def test_no_limit_means_no_limit_and_bad_counts_are_ignored() -> None:
    limiter = InMemoryRateLimiter(
        [RateLimitConfig(token="alice", requests_per_minute=1)], clock=Clock()
    )
    for _ in range(1000):
        admit(limiter, "bob")
    limiter.record_tokens("alice", -5)
    limiter.record_tokens("nobody", 10)


def test_config_validation() -> None:
    with pytest.raises(PydanticError, match="neither"):
        RateLimitConfig(token="t")
    with pytest.raises(
        PydanticError, match=r"requests_per_minute\s+Input should be greater than or equal to 1"
    ):
        RateLimitConfig(requests_per_minute=0)
    with pytest.raises(ValueError, match="two entries"):
        InMemoryRateLimiter(
            [RateLimitConfig(requests_per_minute=1), RateLimitConfig(requests_per_minute=2)]
        )


# -- Redis ------------------------------------------------------------------------------


@pytest.fixture
def prefix() -> Iterator[str]:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    name = f"mloop-test-rl-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(match=f"{name}*"):
        client.delete(key)
    client.close()


def test_redis_limits_are_shared_by_replicas(prefix: str) -> None:
    clock = Clock()
    limits = [RateLimitConfig(requests_per_minute=3, tokens_per_minute=500)]

    async def go() -> None:
        a_client = aioredis.Redis.from_url(URL)
        b_client = aioredis.Redis.from_url(URL)
        a = RedisRateLimiter(limits, a_client, prefix=prefix, clock=clock)
        b = RedisRateLimiter(limits, b_client, prefix=prefix, clock=clock)
        try:
            first = await a.acquire("alice")
            assert (first.requests_remaining, first.tokens_remaining) == (2, 500)
            assert (await b.acquire("alice")).requests_remaining == 1
            await a.acquire("alice")
            with pytest.raises(GatewayError) as info:
                await b.acquire("alice")
            assert info.value.code == "RATE_LIMITED"
            assert info.value.retry_after == pytest.approx(59.75, abs=0.002)
            assert (await b.acquire("bob")).requests_remaining == 2
            clock.now += 60
            await b.acquire("alice")
            b.record_tokens("alice", 300)
            await b.flush()
            assert (await a.acquire("alice")).tokens_remaining == 200
            clock.now += 5
            a.record_tokens("alice", 300)
            await a.flush()
            with pytest.raises(GatewayError) as info:
                await b.acquire("alice")
            assert "500 tokens per minute" in info.value.message
            assert info.value.retry_after == pytest.approx(54.75, abs=0.002)
            clock.now += 55
            await b.acquire("alice")
        finally:
            await a_client.aclose()
            await b_client.aclose()

    asyncio.run(go())


def test_redis_concurrent_acquires_never_exceed_the_limit(prefix: str) -> None:
    clock = Clock()

    async def go() -> int:
        client = aioredis.Redis.from_url(URL)
        limiter = RedisRateLimiter(
            [RateLimitConfig(requests_per_minute=10)], client, prefix=prefix, clock=clock
        )

        async def one() -> bool:
            try:
                await limiter.acquire("t")
                return True
            except GatewayError:
                return False

        try:
            results = await asyncio.gather(*(one() for _ in range(40)))
        finally:
            await client.aclose()
        return sum(results)

    assert asyncio.run(go()) == 10


# -- both implementations, through the RateLimiter interface ------------------------------


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_both_limiters_keep_the_same_windows(kind: str, request: pytest.FixtureRequest) -> None:
    clock = Clock()
    limits = [RateLimitConfig(requests_per_minute=2, tokens_per_minute=100)]
    prefix = request.getfixturevalue("prefix") if kind == "redis" else ""

    async def go() -> list[object]:
        client = aioredis.Redis.from_url(URL) if kind == "redis" else None
        limiter: RateLimiter = (
            RedisRateLimiter(limits, client, prefix=prefix, clock=clock)
            if client is not None
            else InMemoryRateLimiter(limits, clock=clock)
        )
        seen: list[object] = []
        try:
            seen.append(await limiter.acquire("t"))
            limiter.record_tokens("t", 60)
            await limiter.flush()
            seen.append(await limiter.acquire("t"))
            with pytest.raises(RateLimitedError) as info:
                await limiter.acquire("t")  # a third request within the minute
            seen.append(round(info.value.retry_after or 0, 2))
            clock.now += 60
            limiter.record_tokens("t", 100)
            await limiter.flush()
            with pytest.raises(RateLimitedError) as info:
                await limiter.acquire("t")
            seen.append("100 tokens per minute" in info.value.message)
        finally:
            await limiter.flush()
            if client is not None:
                await client.aclose()
        return seen

    assert asyncio.run(go()) == [
        RateLimitStatus(requests_remaining=1, tokens_remaining=100),
        RateLimitStatus(requests_remaining=0, tokens_remaining=40),
        59.75,
        True,
    ]
