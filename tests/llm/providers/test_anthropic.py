"""The Anthropic adapter: translation to and from the Messages API, streams, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.llm.providers.conftest import collect, run

from mloop.llm.errors import ProviderError
from mloop.llm.providers._anthropic_format import TranslationError, to_messages_body
from mloop.llm.providers.anthropic import ANTHROPIC_VERSION, AnthropicProvider
from mloop.llm.testing import fake_provider as fp
from mloop.llm.testing.fake_provider import FakeProvider
from mloop.llm.types import ChatRequest
from mloop.llm.usage import Usage

KEY = "sk-ant-api03-secret-5e6f7a8b"
MODEL = "claude-3-5-haiku-latest"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _request(messages: list[dict[str, Any]] | None = None, **extra: Any) -> ChatRequest:
    return ChatRequest(
        model="r", messages=messages or [{"role": "user", "content": "Hi there"}], **extra
    )


def _provider(fake: FakeProvider, base_url: str | None = None) -> AnthropicProvider:
    return AnthropicProvider("claude", api_key=KEY, base_url=base_url or fake.anthropic_base_url)


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


def _error(coro: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        run(coro)
    assert KEY not in str(info.value)
    return info.value


# -- request translation -----------------------------------------------------------------


def test_system_and_developer_messages_become_system() -> None:
    request = _request(
        [
            {"role": "system", "content": "You are a support assistant."},
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Where is my order?"},
        ],
        temperature=1.6,
        top_p=0.9,
        stop="END",
        user="customer-42",
    )
    body = to_messages_body(request, MODEL, stream=False)
    assert body["system"] == "You are a support assistant.\n\nBe brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Where is my order?"}]}
    ]
    assert body["max_tokens"] == 4096  # required by Anthropic; OpenAI callers may omit it
    assert body["temperature"] == 1.0  # Anthropic's range ends at 1
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "customer-42"}
    assert "stream" not in body


def test_max_tokens_prefers_max_completion_tokens() -> None:
    body = to_messages_body(_request(max_tokens=50, max_completion_tokens=70), MODEL, stream=True)
    assert body["max_tokens"] == 70 and body["stream"] is True
    assert to_messages_body(_request(max_tokens=50), MODEL, stream=False)["max_tokens"] == 50


def test_tools_tool_calls_and_results_translate() -> None:
    request = _request(
        [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "24C"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    body = to_messages_body(request, MODEL, stream=False)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Weather of a city",
        }
    ]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    _, assistant, results = body["messages"]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    # Both results in one user turn: the Messages API wants the roles to alternate.
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice(choice: str, expected: dict[str, Any]) -> None:
    body = to_messages_body(_request(tools=[WEATHER_TOOL], tool_choice=choice), MODEL, stream=False)
    assert body["tool_choice"] == expected


def test_images_translate() -> None:
    request = _request(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}},
                ],
            }
        ]
    )
    (message,) = to_messages_body(request, MODEL, stream=False)["messages"]
    assert message["content"][1:] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:text/plain,hi"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": "{not json"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
    ],
)
def test_untranslatable_requests_name_the_field(request_kwargs: dict[str, Any], field: str) -> None:
    messages = request_kwargs.pop("messages", None)
    with pytest.raises(TranslationError) as info:
        to_messages_body(_request(messages, **request_kwargs), MODEL, stream=False)
    assert info.value.field == field


def test_untranslatable_request_is_a_bad_request_without_a_call(fake: FakeProvider) -> None:
    error = _error(_chat(fake, _request(n=3)))
    assert error.kind == "bad_request" and "n=1" in str(error)
    assert fake.requests == []


# -- answers -----------------------------------------------------------------------------


def test_chat_sends_the_messages_api_and_answers_openai_shape(fake: FakeProvider) -> None:
    fake.script(fp.answer("Hello!", usage={"prompt_tokens": 12, "completion_tokens": 3}))
    result = run(_chat(fake))
    assert result.text() == "Hello!"
    assert result.usage == Usage(input_tokens=12, output_tokens=3)
    body = result.body
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert Usage.from_openai(body["usage"]) == result.usage
    (sent,) = fake.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "authorization" not in sent.headers


def test_base_url_with_v1_is_accepted(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = _provider(fake, base_url=fake.anthropic_base_url + "/v1/")
        try:
            return await provider.chat(_request(), MODEL, timeout=5)
        finally:
            await provider.aclose()

    run(go())
    assert fake.requests[0].path == "/v1/messages"


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter")],
)
def test_finish_reasons_map(fake: FakeProvider, finish: str, expected: str) -> None:
    fake.script(fp.answer("x", finish_reason=finish))
    assert run(_chat(fake)).body["choices"][0]["finish_reason"] == expected


def test_tool_use_answer_becomes_tool_calls(fake: FakeProvider) -> None:
    fake.script(
        fp.answer(
            "Let me check.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
        )
    )
    body = run(_chat(fake, _request(tools=[WEATHER_TOOL]))).body
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"] == "toolu_0"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_cache_tokens_are_reported_apart(fake: FakeProvider) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 4,
            "cache_read_input_tokens": 300,
            "cache_creation_input_tokens": 50,
        },
    }
    fake.script(fp.raw(orjson.dumps(message)))
    result = run(_chat(fake))
    assert result.usage == Usage(
        input_tokens=10, output_tokens=4, cached_input_tokens=300, cache_write_tokens=50
    )
    assert result.body["usage"]["prompt_tokens"] == 360
    assert Usage.from_openai(result.body["usage"]) == result.usage


def test_stream_translates_events_into_chunks(fake: FakeProvider) -> None:
    fake.script(fp.answer(chunks=["Hel", "lo"], usage={"prompt_tokens": 8, "completion_tokens": 2}))
    chunks = run(_stream(fake))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(
        c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks
    )
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert contents == ["Hel", "lo"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert Usage.from_openai(chunks[-1]["usage"]) == Usage(input_tokens=8, output_tokens=2)
    assert fake.requests[0].json()["stream"] is True


def test_stream_tool_calls(fake: FakeProvider) -> None:
    fake.script(fp.answer("", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}]))
    chunks = run(_stream(fake, _request(stream=True, tools=[WEATHER_TOOL])))
    calls = [
        d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "toolu_0" and calls[0]["function"]["name"] == "get_weather"
    assert all(call["index"] == 0 for call in calls)
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert orjson.loads(arguments) == {"city": "Rome"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "kind", "retry_after"),
    [
        (fp.rate_limited(retry_after=5), "rate_limit", 5.0),
        (fp.rate_limited(retry_after=2, status=529), "rate_limit", 2.0),
        (fp.server_error(529, "Overloaded"), "rate_limit", None),
        (fp.server_error(500), "server", None),
        (fp.context_length(), "context_length", None),
        (fp.unauthorized(), "auth", None),
        (fp.error(403, "no access", error_type="permission_error"), "auth", None),
        (fp.error(404, "model: claude-x", error_type="not_found_error"), "not_found", None),
        (
            fp.error(400, "max_tokens: must be positive", error_type="invalid_request_error"),
            "bad_request",
            None,
        ),
        (fp.error(502, "<html>bad gateway</html>"), "server", None),
        (fp.malformed(), "malformed", None),
        (fp.malformed(b'{"type": "message", "content": "not a list"}'), "malformed", None),
        (fp.malformed(b'{"content": [], "usage": {"input_tokens": "many"}}'), "malformed", None),
    ],
)
def test_errors_are_classified(
    fake: FakeProvider, behaviour: fp.Behaviour, kind: str, retry_after: float | None
) -> None:
    fake.script(behaviour)
    error = _error(_chat(fake))
    assert (error.kind, error.retry_after) == (kind, retry_after)


def test_hang_times_out(fake: FakeProvider) -> None:
    fake.script(fp.hang(30))
    assert _error(_chat(fake, timeout=0.2)).kind == "timeout"
    fake.script(fp.hang(30))
    assert _error(_stream(fake, timeout=0.2)).kind == "timeout"


def test_stream_errors(fake: FakeProvider) -> None:
    fake.script(fp.rate_limited(retry_after=1))
    assert _error(_stream(fake)).kind == "rate_limit"
    fake.script(fp.stream_error(after_chunks=1))
    assert _error(_stream(fake)).kind == "server"
    fake.script(fp.stream_error(after_chunks=1, error_type="overloaded_error"))
    assert _error(_stream(fake)).kind == "rate_limit"
    fake.script(fp.stream_error(after_chunks=1, drop=True))
    assert _error(_stream(fake)).kind == "connection"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"event: message_start\ndata: {not json\n\n", "malformed"),
        (b'event: message_start\ndata: {"type": "message_start"}\n\n', "malformed"),
        (
            b'event: message_start\ndata: {"type": "message_start", '
            b'"message": {"id": "m", "usage": {"input_tokens": 1}}}\n\n',
            "connection",
        ),
    ],
)
def test_broken_streams(fake: FakeProvider, body: bytes, kind: str) -> None:
    fake.script(fp.raw(body))
    assert _error(_stream(fake)).kind == kind


def test_key_never_appears(fake: FakeProvider) -> None:
    fake.script(fp.error(401, f"invalid x-api-key {KEY}", error_type="authentication_error"))
    error = _error(_chat(fake))
    assert error.kind == "auth" and "***" in str(error)
    assert KEY not in repr(_provider(fake))
