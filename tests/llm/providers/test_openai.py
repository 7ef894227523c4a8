"""The OpenAI and OpenAI-compatible adapters against the fake provider server."""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any

import orjson
import pytest
from tests.llm.providers.conftest import collect, run

from mloop.llm.errors import ProviderError
from mloop.llm.providers._http import parse_retry_after
from mloop.llm.providers.openai import OpenAICompatibleProvider, OpenAIProvider
from mloop.llm.testing import fake_provider as fp
from mloop.llm.testing.fake_provider import FakeProvider
from mloop.llm.types import ChatRequest, EmbeddingRequest
from mloop.llm.usage import Usage

KEY = "sk-test-7c1d9e0f5a2b4c3d"
MODEL = "gpt-4o-mini"


def _request(**extra: Any) -> ChatRequest:
    return ChatRequest(
        model="support-reply", messages=[{"role": "user", "content": "Where is my order?"}], **extra
    )


def _provider(fake: FakeProvider, **kwargs: Any) -> OpenAIProvider:
    return OpenAIProvider("openai", api_key=KEY, base_url=fake.openai_base_url, **kwargs)


async def _chat(
    fake: FakeProvider, request: ChatRequest | None = None, timeout: float = 5.0
) -> Any:
    provider = _provider(fake)
    try:
        return await provider.chat(request or _request(), MODEL, timeout=timeout)
    finally:
        await provider.aclose()


async def _stream(
    fake: FakeProvider, request: ChatRequest | None = None, timeout: float = 5.0
) -> list[dict[str, Any]]:
    provider = _provider(fake)
    try:
        return await collect(
            provider.stream(request or _request(stream=True), MODEL, timeout=timeout)
        )
    finally:
        await provider.aclose()


def _chat_error(fake: FakeProvider, timeout: float = 5.0) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(_chat(fake, timeout=timeout))
    assert KEY not in str(info.value)
    return info.value


def _stream_error(
    fake: FakeProvider, timeout: float = 5.0
) -> tuple[ProviderError, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def go() -> None:
        provider = _provider(fake)
        try:
            async for chunk in provider.stream(_request(stream=True), MODEL, timeout=timeout):
                received.append(chunk)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        run(go())
    assert KEY not in str(info.value)
    return info.value, received


# -- answers -----------------------------------------------------------------------------


def test_chat_returns_the_body_and_usage(fake: FakeProvider) -> None:
    fake.script(
        fp.answer("Your order ships today.", usage={"prompt_tokens": 21, "completion_tokens": 6})
    )
    result = run(
        _chat(fake, _request(temperature=0, metadata={"team": "support"}, reasoning_effort="low"))
    )
    assert result.text() == "Your order ships today."
    assert result.usage == Usage(input_tokens=21, output_tokens=6)
    assert (result.provider, result.model) == ("openai", MODEL)
    assert result.body["object"] == "chat.completion"

    (sent,) = fake.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.json()
    assert body["model"] == MODEL  # the provider model, not the route name
    assert body["temperature"] == 0
    assert body["reasoning_effort"] == "low"  # unknown parameters pass through
    assert "metadata" not in body and "stream" not in body  # mloop's own fields stay home


def test_cached_tokens_are_billed_apart(fake: FakeProvider) -> None:
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 60},
        },
    }
    fake.script(fp.raw(orjson.dumps(answer)))
    assert run(_chat(fake)).usage == Usage(input_tokens=40, output_tokens=5, cached_input_tokens=60)


def test_stream_yields_chunks_in_order_with_usage_last(fake: FakeProvider) -> None:
    fake.script(
        fp.answer(
            chunks=["Your ", "order ", "ships."], usage={"prompt_tokens": 9, "completion_tokens": 3}
        )
    )
    chunks = run(_stream(fake))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Your order ships."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert Usage.from_openai(chunks[-1]["usage"]) == Usage(input_tokens=9, output_tokens=3)
    assert all(c.get("usage") is None for c in chunks[:-1])
    # Usage is asked for even though the caller did not: every call gets priced.
    assert fake.requests[0].json()["stream_options"] == {"include_usage": True}
    assert fake.requests[0].json()["stream"] is True


def test_stream_keeps_the_callers_stream_options(fake: FakeProvider) -> None:
    run(_stream(fake, _request(stream=True, stream_options={"include_obfuscation": False})))
    assert fake.requests[0].json()["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }


def test_embeddings(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = _provider(fake)
        try:
            return await provider.embed(
                EmbeddingRequest(model="emb", input=["a cat", "a dog"], dimensions=8),
                "text-embedding-3-small",
                timeout=5,
            )
        finally:
            await provider.aclose()

    result = run(go())
    assert len(result.vectors) == 2 and all(len(v) == 8 for v in result.vectors)
    assert result.usage.input_tokens > 0
    assert fake.requests[0].path == "/v1/embeddings"
    assert fake.requests[0].json()["model"] == "text-embedding-3-small"


def test_embeddings_count_mismatch_is_malformed(fake: FakeProvider) -> None:
    fake.script(
        fp.raw(b'{"object":"list","data":[{"embedding":[0.1]}],"usage":{"prompt_tokens":1}}')
    )

    async def go() -> Any:
        provider = _provider(fake)
        try:
            return await provider.embed(
                EmbeddingRequest(model="e", input=["a", "b"]), "e", timeout=5
            )
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        run(go())
    assert info.value.kind == "malformed"


def test_compatible_server_needs_no_key(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = OpenAICompatibleProvider("vllm", base_url=fake.openai_base_url)
        try:
            return await provider.chat(_request(), "llama-3.1-8b", timeout=5)
        finally:
            await provider.aclose()

    assert run(go()).text() == "Echo: Where is my order?"
    assert "authorization" not in fake.requests[0].headers


def test_configured_headers_are_sent(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = _provider(fake, headers={"HTTP-Referer": "https://example.test"})
        try:
            return await provider.chat(_request(), MODEL, timeout=5)
        finally:
            await provider.aclose()

    run(go())
    assert fake.requests[0].headers["http-referer"] == "https://example.test"


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "kind", "retry_after"),
    [
        (fp.rate_limited(retry_after=7), "rate_limit", 7.0),
        (fp.rate_limited(retry_after=7, retry_after_ms=1500), "rate_limit", 1.5),
        (fp.rate_limited(retry_after=None), "rate_limit", None),
        (fp.server_error(500), "server", None),
        (fp.server_error(503), "server", None),
        (fp.context_length(), "context_length", None),
        (
            fp.error(400, "This model's maximum context length is 4096 tokens."),
            "context_length",
            None,
        ),
        (fp.content_policy(), "content_policy", None),
        (fp.content_policy("content_filter"), "content_policy", None),
        (fp.unauthorized(), "auth", None),
        (fp.error(403, "not allowed"), "auth", None),
        (fp.error(404, "The model does not exist", code="model_not_found"), "not_found", None),
        (
            fp.error(400, "temperature must be at most 2", error_type="invalid_request_error"),
            "bad_request",
            None,
        ),
        (fp.error(429, "You exceeded your current quota", code="insufficient_quota"), "auth", None),
        (fp.malformed(), "malformed", None),
        (fp.malformed(b'{"object": "chat.completion", "choices": []}'), "malformed", None),
        (fp.malformed(b"[1, 2, 3]"), "malformed", None),
        (
            fp.malformed(b'{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-5}}'),
            "malformed",
            None,
        ),
    ],
)
def test_errors_are_classified(
    fake: FakeProvider, behaviour: fp.Behaviour, kind: str, retry_after: float | None
) -> None:
    fake.script(behaviour)
    error = _chat_error(fake)
    assert error.kind == kind
    assert error.retry_after == retry_after
    assert (error.provider, error.model) == ("openai", MODEL)


def test_retry_after_on_a_503_is_kept(fake: FakeProvider) -> None:
    fake.script(
        fp.Behaviour(action="error", status=503, message="busy", headers={"retry-after": "3"})
    )
    error = _chat_error(fake)
    assert (error.kind, error.retry_after, error.provider_status) == ("server", 3.0, 503)


def test_a_hang_times_out(fake: FakeProvider) -> None:
    fake.script(fp.hang(30))
    error = _chat_error(fake, timeout=0.2)
    assert error.kind == "timeout"
    assert error.retryable


def test_slow_latency_beyond_the_timeout_times_out(fake: FakeProvider) -> None:
    fake.script(fp.answer("late", latency=2))
    assert _chat_error(fake, timeout=0.2).kind == "timeout"


def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens

    async def go() -> Any:
        provider = OpenAIProvider("openai", api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
        try:
            return await provider.chat(_request(), MODEL, timeout=5)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        run(go())
    assert info.value.kind == "connection"


def test_stream_errors_before_the_first_chunk(fake: FakeProvider) -> None:
    fake.script(fp.rate_limited(retry_after=2))
    error, received = _stream_error(fake)
    assert (error.kind, error.retry_after, received) == ("rate_limit", 2.0, [])


def test_stream_hang_times_out_before_the_first_chunk(fake: FakeProvider) -> None:
    fake.script(fp.hang(30))
    error, received = _stream_error(fake, timeout=0.2)
    assert (error.kind, received) == ("timeout", [])


def test_stream_timeout_bounds_each_chunk(fake: FakeProvider) -> None:
    # The first chunk comes at once and must arrive within the timeout, so the timeout is
    # seconds; the stall after it is what times out.
    fake.script(fp.answer(chunks=["a", "b", "c"], chunk_latency=60))
    error, received = _stream_error(fake, timeout=5)
    assert error.kind == "timeout"
    assert received[0]["choices"][0]["delta"]["role"] == "assistant"  # the stream had begun


def test_error_event_mid_stream(fake: FakeProvider) -> None:
    fake.script(fp.stream_error(after_chunks=2))
    error, received = _stream_error(fake)
    assert error.kind == "server"
    contents = [c["choices"][0]["delta"].get("content") for c in received]
    assert contents == ["", "Echo:", " Where"]


def test_rate_limit_event_mid_stream(fake: FakeProvider) -> None:
    fake.script(fp.stream_error(after_chunks=1, error_type="rate_limit_error"))
    assert _stream_error(fake)[0].kind == "rate_limit"


def test_dropped_stream_is_a_connection_error(fake: FakeProvider) -> None:
    fake.script(fp.stream_error(after_chunks=1, drop=True))
    assert _stream_error(fake)[0].kind == "connection"


def test_stream_that_ends_unfinished_is_a_connection_error(fake: FakeProvider) -> None:
    fake.script(fp.raw(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'))
    error, received = _stream_error(fake)
    assert error.kind == "connection" and len(received) == 1


@pytest.mark.parametrize(
    "body",
    [b"data: not json\n\n", b"data: [1]\n\n", b'data: {"id": "no choices"}\n\n'],
)
def test_malformed_stream_events(fake: FakeProvider, body: bytes) -> None:
    fake.script(fp.raw(body))
    assert _stream_error(fake)[0].kind == "malformed"


# -- keys stay secret --------------------------------------------------------------------


def test_key_never_appears_in_errors_or_repr(fake: FakeProvider) -> None:
    # A provider that quotes the key back must not get it into our message.
    fake.script(fp.error(401, f"Incorrect API key provided: {KEY}. Find your key at ..."))
    error = _chat_error(fake)
    assert error.kind == "auth" and "***" in str(error)
    provider = _provider(fake)
    assert KEY not in repr(provider) and KEY not in str(vars(provider).get("_client"))
    run(provider.aclose())


def test_oversized_error_text_is_cut(fake: FakeProvider) -> None:
    fake.script(fp.error(500, "x" * 100_000))
    assert len(str(_chat_error(fake))) < 1000


# -- Retry-After parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "99999999"}, 3600.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = parse_retry_after({"retry-after": when})
    assert value is not None and 25 <= value <= 31
    past = email.utils.formatdate(time.time() - 300, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
