"""Every way a call ends settles its budget reservation: an answer, a provider failure, the end
of a stream and a stream the caller abandons (issue 11, defect 1). In-process gateway over the
simulated provider, priced through a price table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mloop.llm.config import GatewayConfig
from mloop.llm.cost.pricing import PriceTable
from mloop.llm.errors import BudgetExceededError, ProviderError
from mloop.llm.gateway.service import Caller, Gateway, GatewayResponse, GatewayStream
from mloop.llm.providers.simulated import SimulatedProvider
from mloop.llm.types import ChatRequest, EmbeddingRequest

PRICES = PriceTable.from_dict(
    {
        "prices": [
            {
                "provider": "simulated",
                "model": "sim",
                "input": "1000",
                "output": "1000",
                "effective_from": "2020-01-01",
            }
        ]
    }
)


def _gateway(limit: float = 1.0, **route: Any) -> tuple[Gateway, SimulatedProvider]:
    config = GatewayConfig.from_dict(
        {
            "providers": {"sim": {"kind": "simulated"}},
            "routes": {"r": {"targets": [{"provider": "sim", "model": "sim"}], **route}},
            "budgets": [{"scope": "route", "key": "r", "limit_usd": limit}],
        }
    )
    provider = SimulatedProvider("sim")
    return Gateway(config, {"sim": provider}, prices=PRICES), provider


def _request(**extra: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": "Where is my order?"}], **extra}
    )


def test_an_answer_settles_its_actual_cost() -> None:
    gateway, _ = _gateway()

    async def go() -> None:
        response = await gateway.chat(_request(max_tokens=100), Caller())
        assert isinstance(response, GatewayResponse)
        usage = response.body["usage"]
        cost = (usage["prompt_tokens"] + usage["completion_tokens"]) / 1000
        assert gateway.budgets.spent("route", "r", "daily") == pytest.approx(cost)
        assert gateway.budgets.held("route", "r", "daily") == 0
        await gateway.aclose()

    asyncio.run(go())


def test_a_failed_call_releases_its_reservation() -> None:
    gateway, provider = _gateway(limit=0.15, retries=0)

    async def go() -> None:
        provider.simulate_outage(1)
        with pytest.raises(ProviderError, match="simulated outage"):
            await gateway.chat(_request(max_tokens=100), Caller())  # holds ~$0.11 meanwhile
        assert gateway.budgets.held("route", "r", "daily") == 0
        assert gateway.budgets.spent("route", "r", "daily") == 0
        await gateway.chat(_request(max_tokens=100), Caller())  # the budget is whole again
        await gateway.aclose()

    asyncio.run(go())


def test_a_stream_holds_until_its_end_then_settles() -> None:
    gateway, _ = _gateway()

    async def go() -> None:
        stream = await gateway.chat(_request(stream=True, max_tokens=100), Caller())
        assert isinstance(stream, GatewayStream)
        held = gateway.budgets.held("route", "r", "daily")
        assert held > 0.1  # (~12 prompt + 100 output tokens) at $1000 per 1M
        chunks = [chunk async for chunk in stream.chunks]
        assert chunks
        assert gateway.budgets.held("route", "r", "daily") == 0
        assert 0 < gateway.budgets.spent("route", "r", "daily") < held
        await gateway.aclose()

    asyncio.run(go())


def test_an_abandoned_stream_releases_its_reservation() -> None:
    gateway, _ = _gateway()

    async def go() -> None:
        stream = await gateway.chat(_request(stream=True, max_tokens=100), Caller())
        assert isinstance(stream, GatewayStream)
        chunks = stream.chunks
        await chunks.__anext__()
        assert gateway.budgets.held("route", "r", "daily") > 0
        await chunks.aclose()  # type: ignore[attr-defined]  # the client went away
        assert gateway.budgets.held("route", "r", "daily") == 0
        await gateway.aclose()

    asyncio.run(go())


def test_without_max_tokens_the_route_default_is_reserved() -> None:
    # 0.05 covers a prompt and 20 output tokens, not the default 1024 output tokens.
    gateway, _ = _gateway(limit=0.05)
    small, _ = _gateway(limit=0.05, reserve_output_tokens=20)

    async def go() -> None:
        with pytest.raises(BudgetExceededError, match=r"may cost up to \$1\.04"):
            await gateway.chat(_request(), Caller())
        await small.chat(_request(), Caller())
        await gateway.aclose()
        await small.aclose()

    asyncio.run(go())


def test_embeddings_reserve_their_input() -> None:
    gateway, _ = _gateway(limit=0.004)

    async def go() -> None:
        await gateway.embeddings(EmbeddingRequest(model="r", input="x" * 3), Caller())
        with pytest.raises(BudgetExceededError, match=r"may cost up to \$0\.0040"):
            await gateway.embeddings(EmbeddingRequest(model="r", input="x" * 4), Caller())
        await gateway.aclose()

    asyncio.run(go())


def test_a_stream_never_read_releases_its_reservation_when_closed() -> None:
    # The caller went away before the first chunk was asked for: the relay never ran.
    gateway, _ = _gateway()

    async def go() -> None:
        stream = await gateway.chat(_request(stream=True, max_tokens=100), Caller())
        assert isinstance(stream, GatewayStream)
        assert gateway.budgets.held("route", "r", "daily") > 0
        await stream.aclose()
        assert gateway.budgets.held("route", "r", "daily") == 0
        assert gateway.budgets.spent("route", "r", "daily") == 0
        await stream.aclose()  # closing twice settles once
        await gateway.aclose()

    asyncio.run(go())


def test_the_http_response_closes_a_stream_whose_caller_is_gone_before_the_first_chunk() -> None:
    from starlette.requests import ClientDisconnect

    from mloop.llm.gateway.http import _EventStream

    gateway, _ = _gateway()

    async def go() -> None:
        stream = await gateway.chat(_request(stream=True, max_tokens=100), Caller())
        assert isinstance(stream, GatewayStream)

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            raise OSError("the connection is closed")

        scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "POST"}
        with pytest.raises(ClientDisconnect):
            await _EventStream(stream)(scope, receive, send)
        assert gateway.budgets.held("route", "r", "daily") == 0
        await gateway.aclose()

    asyncio.run(go())


def test_under_a_block_budget_a_request_without_max_tokens_is_capped() -> None:
    gateway, _ = _gateway(limit=1.0, reserve_output_tokens=8)
    uncapped, _ = _gateway(limit=1.0, reserve_output_tokens=8, cap_output="none")

    async def go() -> None:
        response = await gateway.chat(_request(), Caller())
        assert isinstance(response, GatewayResponse)
        assert response.body["choices"][0]["finish_reason"] == "length"
        assert response.body["usage"]["completion_tokens"] <= 8
        free = await uncapped.chat(_request(), Caller())
        assert isinstance(free, GatewayResponse)
        assert free.body["choices"][0]["finish_reason"] == "stop"
        assert free.body["usage"]["completion_tokens"] > 8
        await gateway.aclose()
        await uncapped.aclose()

    asyncio.run(go())


def test_an_alert_budget_does_not_cap_the_output() -> None:
    config = GatewayConfig.from_dict(
        {
            "providers": {"sim": {"kind": "simulated"}},
            "routes": {
                "r": {"targets": [{"provider": "sim", "model": "sim"}], "reserve_output_tokens": 8}
            },
            "budgets": [{"scope": "route", "key": "r", "limit_usd": 1.0, "action": "alert"}],
        }
    )
    gateway = Gateway(config, {"sim": SimulatedProvider("sim")}, prices=PRICES)

    async def go() -> None:
        response = await gateway.chat(_request(), Caller())
        assert isinstance(response, GatewayResponse)
        assert response.body["choices"][0]["finish_reason"] == "stop"
        await gateway.aclose()

    asyncio.run(go())
