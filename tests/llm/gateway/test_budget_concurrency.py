"""Budgets under concurrency (issue 11, defect 1): 200 calls at once through a real server
must not spend past a ``block`` budget, with counters in memory and in Redis.

Every call reserves a bound of its cost at admission (prompt bytes, and the output cap:
the request's ``max_tokens`` or, under a block budget, the route's ``reserve_output_tokens``
sent as the cap), so the spend of the admitted calls never exceeds the limit itself.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from tests.conftest import ServerHandle, port_open, require_service
from tests.llm.gateway.conftest import calls, gateway_config

from mloop.llm.config import RouteConfig
from mloop.llm.cost.estimate import estimate_chat
from mloop.llm.cost.pricing import PriceTable
from mloop.llm.testing.fake_provider import FakeProvider, answer
from mloop.llm.types import ChatRequest

REDIS_URL = "redis://127.0.0.1:6379/0"
CALLS = 200
LIMIT_USD = 1.0
PRICE_PER_M = "1000"  # USD per 1M tokens, input and output: cents per call
USAGE = {"prompt_tokens": 10, "completion_tokens": 20}  # what the fake reports: $0.03
BODY: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Where is my order?"}],
    "max_tokens": 50,
}


@pytest.fixture
def route() -> Iterator[str]:
    """A route name of this test's own: Redis counters are keyed by it."""
    name = f"budget-{uuid.uuid4().hex[:10]}"
    yield name
    if port_open("127.0.0.1", 6379):
        conn = redis.Redis.from_url(REDIS_URL)
        for key in conn.scan_iter(match=f"mloop:budget:*{name}*"):
            conn.delete(key)
        conn.close()


def _config(
    fake: FakeProvider, route: str, tmp_path: Path, *, reserve: int = 1024, **extra: Any
) -> dict[str, Any]:
    prices = tmp_path / "prices.yaml"
    entry = {"input": PRICE_PER_M, "output": PRICE_PER_M, "effective_from": "2020-01-01"}
    prices.write_text(
        yaml.safe_dump(
            {"prices": [{"provider": "openai_compatible", "model": "gpt-4o-mini", **entry}]}
        )
    )
    config = gateway_config(
        fake,
        **{
            route: {
                "targets": [{"provider": "primary", "model": "gpt-4o-mini"}],
                "retries": 0,
                "reserve_output_tokens": reserve,
            }
        },
    )
    config["budgets"] = [{"scope": "route", "key": route, "limit_usd": LIMIT_USD}]
    config["prices_path"] = str(prices)
    return {**config, **extra}


def _estimate_usd(route: str, body: dict[str, Any], reserve: int) -> float:
    """One call's reservation, computed as the gateway does."""
    request = ChatRequest.model_validate({"model": route, **body})
    route_config = RouteConfig(
        targets=[{"provider": "primary", "model": "gpt-4o-mini"}], reserve_output_tokens=reserve
    )
    usage = estimate_chat(request, route_config).usage()
    price = PriceTable.from_dict(
        {
            "prices": [
                {
                    "provider": "openai_compatible",
                    "model": "gpt-4o-mini",
                    "input": PRICE_PER_M,
                    "output": PRICE_PER_M,
                    "effective_from": "2020-01-01",
                }
            ]
        }
    ).cost("openai_compatible", "gpt-4o-mini", usage)
    return float(price.total)


async def _fire(url: str, route: str, body: dict[str, Any] = BODY) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(
                client.post("/v1/chat/completions", json={"model": route, **body})
                for _ in range(CALLS)
            )
        )


def _check_bounded(
    handle: ServerHandle,
    route: str,
    responses: list[httpx.Response],
    *,
    body: dict[str, Any] = BODY,
    reserve: int = 1024,
) -> None:
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert admitted, "the budget covers several calls: some must be admitted"
    assert len(admitted) + len(refused) == CALLS
    for response in refused:
        assert response.status_code == 429, response.text
        error = response.json()["error"]
        assert error["code"] == "BUDGET_EXCEEDED"
        assert f"daily budget of route '{route}'" in error["message"]
    actual = 0.03  # 10 + 20 tokens at PRICE_PER_M
    assert actual <= _estimate_usd(route, body, reserve)  # the estimate bounds what a call costs
    records = calls(handle)
    spend = sum(r["cost_usd"] for r in records if r["status"] == "ok")
    assert spend == pytest.approx(actual * len(admitted))
    assert spend <= LIMIT_USD + 1e-9, (
        f"{len(admitted)} calls admitted spent ${spend:.4f} of ${LIMIT_USD}"
    )
    assert sum(r["error_code"] == "BUDGET_EXCEEDED" for r in records) == len(refused)
    # Every reservation was settled: nothing is held once the calls are over.
    guard = handle.app.state.gateway.get().budgets
    assert guard.held("route", route, "daily") == 0


@pytest.fixture
def slow_fake(fake: FakeProvider) -> FakeProvider:
    # Calls overlap: each answer takes 0.3 s, so most of the 200 are in flight together.
    fake.default = answer("ok", latency=0.3, usage=USAGE)
    return fake


def test_200_concurrent_calls_stay_within_an_in_memory_budget(
    start_gateway: Callable[..., ServerHandle], slow_fake: FakeProvider, route: str, tmp_path: Path
) -> None:
    handle = start_gateway(_config(slow_fake, route, tmp_path))
    responses = asyncio.run(_fire(handle.url, route))
    _check_bounded(handle, route, responses)


def test_200_concurrent_calls_stay_within_a_redis_budget(
    start_gateway: Callable[..., ServerHandle], slow_fake: FakeProvider, route: str, tmp_path: Path
) -> None:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    handle = start_gateway(_config(slow_fake, route, tmp_path, redis_url=REDIS_URL))
    responses = asyncio.run(_fire(handle.url, route))
    _check_bounded(handle, route, responses)
    # The counters in Redis hold the settled spend and no reservation. Settlements reach
    # Redis just after the answers: wait for the last ones (a bounded wait, not a timing).
    admitted = sum(r.status_code == 200 for r in responses)
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(200):
            spent = list(conn.scan_iter(match=f"mloop:budget:daily:*:route:{route}"))
            held = list(conn.scan_iter(match=f"mloop:budget:held:daily:*:route:{route}"))
            total = float(conn.get(spent[0]) or 0) if spent else 0.0
            if total >= 0.03 * admitted - 1e-9 and all(conn.hlen(k) == 0 for k in held):
                break
            time.sleep(0.05)
        assert len(spent) == 1
        assert total == pytest.approx(0.03 * admitted)
        assert all(conn.hlen(k) == 0 for k in held)
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_requests_without_max_tokens_are_capped_and_stay_within_the_budget(
    start_gateway: Callable[..., ServerHandle],
    fake: FakeProvider,
    route: str,
    tmp_path: Path,
    backend: str,
) -> None:
    # Uncapped, each answer would run to 500 tokens ($0.51): 200 at once would spend $100.
    fake.default = answer("ok", latency=0.3, usage={"prompt_tokens": 10, "completion_tokens": 500})
    extra: dict[str, Any] = {"redis_url": REDIS_URL} if backend == "redis" else {}
    if backend == "redis":
        require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    handle = start_gateway(_config(fake, route, tmp_path, reserve=20, **extra))
    body = {"messages": BODY["messages"]}  # no max_tokens
    responses = asyncio.run(_fire(handle.url, route, body))
    sent = [json.loads(r.body) for r in fake.requests if r.path.endswith("/chat/completions")]
    assert sent and all(b["max_tokens"] == 20 for b in sent)
    _check_bounded(handle, route, responses, body=body, reserve=20)
