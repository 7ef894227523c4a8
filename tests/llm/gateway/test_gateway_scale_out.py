"""The gateway at scale and with its optional parts: the cache and the rate limits in the real
Redis shared by two servers, local MiniLM embeddings, and the semantic cache."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import redis
from tests.conftest import ServerHandle, free_port, port_open, require_service
from tests.llm.gateway.conftest import calls, gateway_config

from mloop.llm.testing.fake_provider import FakeProvider

REDIS_URL = "redis://127.0.0.1:6379/0"
MESSAGES = [{"role": "user", "content": "Where is my order?"}]


def client(handle: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{handle.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    prefix = f"mloop-gw-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    conn = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"{prefix}*", "mloop:ratelimit:*gw-test*"):
        for key in conn.scan_iter(match=pattern):
            conn.delete(key)
    conn.close()


def test_two_servers_share_the_redis_cache_and_rate_limits(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider, redis_prefix: str
) -> None:
    config = gateway_config(fake)
    config["cache_backend"] = {"backend": "redis", "url": REDIS_URL, "key_prefix": redis_prefix}
    config["redis_url"] = REDIS_URL
    token = f"gw-test-{uuid.uuid4().hex[:8]}"
    config["rate_limits"] = [{"token": "*", "requests_per_minute": 3}]
    first, second = start_gateway(config), start_gateway(config)
    headers = {"x-mloop-user": token}  # without authentication, the caller's name
    a = openai.OpenAI(
        base_url=f"{first.url}/v1", api_key="x", max_retries=0, default_headers=headers
    )
    b = openai.OpenAI(
        base_url=f"{second.url}/v1", api_key="x", max_retries=0, default_headers=headers
    )
    answer = a.chat.completions.create(model="support-reply", messages=MESSAGES, temperature=0)
    # The second server answers from the entry the first one stored.
    raw = b.chat.completions.with_raw_response.create(
        model="support-reply", messages=MESSAGES, temperature=0
    )
    assert raw.headers["x-mloop-cache"] == "exact"
    assert raw.parse().choices[0].message.content == answer.choices[0].message.content
    assert len(fake.requests) == 1
    # Three requests a minute in all, whichever server takes them.
    b.chat.completions.create(model="support-reply", messages=MESSAGES, temperature=0.5)
    with pytest.raises(openai.RateLimitError, match="3 requests per minute"):
        a.chat.completions.create(model="support-reply", messages=MESSAGES, temperature=0.5)
    assert calls(first)[-1]["error_code"] == "RATE_LIMITED"


def require_embeddings() -> None:
    """The `embeddings` extra: `make test` installs it, so CI fails without it."""
    found = importlib.util.find_spec("sentence_transformers") is not None
    require_service(found, "the 'embeddings' extra (sentence-transformers)")


def _local_config(fake: FakeProvider, **cache: Any) -> dict[str, Any]:
    config = gateway_config(fake)
    config["providers"]["local"] = {"kind": "local_embeddings"}
    if cache:
        config["routes"]["support-reply"]["cache"] = cache
    return config


def test_local_minilm_embeddings_through_the_gateway(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    require_embeddings()
    handle = start_gateway(_local_config(fake))
    result = client(handle).embeddings.create(
        model="local/all-MiniLM-L6-v2",
        input=["Where is my parcel?", "Where is my package?", "The cat sat on the mat."],
    )
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [384, 384, 384]

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True)) / math.sqrt(
            sum(p * p for p in x) * sum(q * q for q in y)
        )

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2]) + 0.3
    assert fake.requests == []  # nothing left the machine
    (row,) = calls(handle)
    assert row["provider"] == "local" and row["input_tokens"] > 0


def test_the_semantic_cache_answers_a_rephrased_question(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    require_embeddings()
    semantic = {
        "enabled": True,
        "threshold": 0.85,
        "embedding_model": "local/all-MiniLM-L6-v2",
    }
    handle = start_gateway(_local_config(fake, mode="on", semantic=semantic))
    c = client(handle)
    first = c.chat.completions.create(
        model="support-reply", messages=[{"role": "user", "content": "Where is my parcel?"}]
    )
    raw = c.chat.completions.with_raw_response.create(
        model="support-reply", messages=[{"role": "user", "content": "Where's my parcel?"}]
    )
    assert raw.headers["x-mloop-cache"] == "semantic"
    assert raw.parse().choices[0].message.content == first.choices[0].message.content
    unrelated = c.chat.completions.with_raw_response.create(
        model="support-reply", messages=[{"role": "user", "content": "Cancel my subscription."}]
    )
    assert unrelated.headers["x-mloop-cache"] == "miss"
    assert len(fake.requests) == 2
    rows = calls(handle)
    assert [r["cache"] for r in rows] == ["miss", "semantic", "miss"]


def _concurrent_chats(handle: ServerHandle, n: int, headers: dict[str, str]) -> list[int]:
    """Send ``n`` different chat requests at once; their HTTP statuses."""

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=handle.url, limits=limits, timeout=60) as http:

            async def one(i: int) -> int:
                body = {
                    "model": "support-reply",
                    "messages": [{"role": "user", "content": f"Where is order {i}?"}],
                    "temperature": 0,
                }
                response = await http.post("/v1/chat/completions", json=body, headers=headers)
                return response.status_code

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    return asyncio.run(run())


def test_200_concurrent_calls_with_redis_wait_for_a_connection_instead_of_a_500(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider, redis_prefix: str
) -> None:
    # Every request uses Redis: the rate limit (a script), the cache lookup and write, and
    # the token count. A pool of 10 connections for 200 requests: commands must wait for a
    # connection (redis-py's default pool raised MaxConnectionsError: half were 500s).
    # Long timeouts, so that a loaded machine waits rather than falls back to local counters.
    config = gateway_config(fake)
    config["cache_backend"] = {"backend": "redis", "url": REDIS_URL, "key_prefix": redis_prefix}
    config["redis_url"] = REDIS_URL
    config["redis_pool"] = {
        "max_connections": 10,
        "pool_timeout_seconds": 60,
        "socket_timeout_seconds": 60,
    }
    config["rate_limits"] = [
        {"token": "*", "requests_per_minute": 100_000, "tokens_per_minute": 10_000_000}
    ]
    handle = start_gateway(config)
    token = f"gw-test-{uuid.uuid4().hex[:8]}"
    statuses = _concurrent_chats(handle, 200, {"x-mloop-user": token})
    assert {s: statuses.count(s) for s in set(statuses)} == {200: 200}
    assert len(fake.requests) == 200
    # Redis counted every request: none fell back to local counters.
    gateway = handle.app.state.gateway.get()
    assert gateway.rate_limits.health.failures == 0
    conn = redis.Redis.from_url(REDIS_URL)
    counted = conn.hgetall(f"mloop:ratelimit:{token}:req")
    conn.delete(f"mloop:ratelimit:{token}:req", f"mloop:ratelimit:{token}:tok")
    conn.close()
    assert sum(int(n) for n in counted.values()) == 200


@pytest.fixture(params=["closed port", "silent server"])
def broken_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a Redis that is gone (nothing listens) or hangs (a socket that accepts
    connections into its backlog and never answers)."""
    if request.param == "closed port":
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"


def test_with_redis_unreachable_calls_succeed_with_misses_and_local_limits(
    start_gateway: Callable[..., ServerHandle],
    fake: FakeProvider,
    broken_redis: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = gateway_config(fake)
    config["cache_backend"] = {"backend": "redis", "url": broken_redis}
    config["redis_url"] = broken_redis
    # The silent server is a hang: short timeouts are what this test is about.
    config["redis_pool"] = {"socket_timeout_seconds": 0.5, "connect_timeout_seconds": 0.5}
    config["rate_limits"] = [{"token": "*", "requests_per_minute": 2}]
    handle = start_gateway(config)
    c = client(handle)
    with caplog.at_level(logging.WARNING, logger="mloop.llm.redis_client"):
        for _ in range(2):
            raw = c.chat.completions.with_raw_response.create(
                model="support-reply", messages=MESSAGES, temperature=0
            )
            assert raw.status_code == 200
            assert raw.headers["x-mloop-cache"] == "miss"  # nothing could be cached
        # The limit still holds, counted by this process alone.
        with pytest.raises(openai.RateLimitError, match="2 requests per minute"):
            c.chat.completions.create(model="support-reply", messages=MESSAGES, temperature=0)
    assert len(fake.requests) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith("Redis unavailable for the rate limits") and "own counters" in m
        for m in warnings
    ), warnings
    assert any(
        m.startswith("Redis unavailable for the response cache") and "cache misses" in m
        for m in warnings
    ), warnings
    # One warning per outage, not one per request.
    assert len(warnings) == 2, warnings
