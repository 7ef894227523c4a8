"""The fake provider server speaks the real APIs well enough for the stock clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from mloop.llm.testing import fake_provider as fp
from mloop.llm.testing.fake_provider import FakeProvider

MESSAGES: Any = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeProvider) -> Iterator[FakeProvider]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0) as c:
        yield c


def test_default_answer_echoes_with_usage(client: openai.OpenAI, fake: FakeProvider) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "Echo: Where is my order?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    (request,) = fake.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-fake"
    assert request.json()["messages"] == MESSAGES


def test_streaming_honours_include_usage(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script(fp.answer(chunks=["Your ", "order ", "ships."]), fp.answer(chunks=["a", "b"]))
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    assert text == "Your order ships."
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    without = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    )
    assert all(c.usage is None for c in without)
    assert without[-1].choices[0].finish_reason == "stop"


def test_script_is_fifo_and_can_target_a_model(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script(fp.answer("for gpt-4o only"), model="gpt-4o")
    fake.script(fp.answer("first"), fp.answer("second"))
    assert fake.pending == 3

    def ask(model: str) -> str | None:
        return (
            client.chat.completions.create(model=model, messages=MESSAGES)
            .choices[0]
            .message.content
        )

    assert ask("gpt-4o-mini") == "first"  # the gpt-4o entry is skipped for another model
    assert ask("gpt-4o") == "for gpt-4o only"
    assert ask("gpt-4o") == "second"
    assert ask("gpt-4o") == "Echo: Where is my order?"  # queue empty: the default
    assert fake.pending == 0


def test_errors_reach_the_stock_client(client: openai.OpenAI, fake: FakeProvider) -> None:
    fake.script(fp.rate_limited(retry_after=3, retry_after_ms=2500))
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert rate.value.response.headers["retry-after"] == "3"
    assert rate.value.response.headers["retry-after-ms"] == "2500"

    fake.script(fp.context_length())
    with pytest.raises(openai.BadRequestError) as context:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert context.value.code == "context_length_exceeded"
    assert "maximum context length" in context.value.message

    fake.script(fp.content_policy())
    with pytest.raises(openai.BadRequestError) as policy:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert policy.value.code == "content_policy_violation"

    fake.script(fp.server_error(503))
    with pytest.raises(openai.InternalServerError, match="503 - The server had an error"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    fake.script(fp.unauthorized())
    with pytest.raises(openai.AuthenticationError, match="401 - Incorrect API key provided"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    fake.script(fp.stream_error(after_chunks=1))
    with pytest.raises(openai.APIError, match="error while processing"):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))


def test_hang_ends_when_the_client_gives_up(fake: FakeProvider) -> None:
    fake.script(fp.hang(30))
    with (
        openai.OpenAI(
            base_url=fake.openai_base_url, api_key="k", max_retries=0, timeout=0.3
        ) as short,
        pytest.raises(openai.APITimeoutError, match="Request timed out"),
    ):
        short.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    # The server is free again at once: the hung request did not block it.
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0, timeout=5) as c:
        assert c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


def test_malformed_bodies(fake: FakeProvider) -> None:
    fake.script(fp.malformed())
    response = httpx.post(
        fake.openai_base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES}
    )
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError, match="unexpected character"):
        orjson.loads(response.content)


def test_embeddings_and_models(client: openai.OpenAI, fake: FakeProvider) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "a"])
    assert [len(d.embedding) for d in result.data] == [16, 16, 16]
    assert result.data[0].embedding == result.data[2].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0
    sized = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=4)
    assert len(sized.data[0].embedding) == 4
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]


def test_azure_paths_serve_the_stock_azure_client(fake: FakeProvider) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=fake.azure_base_url, api_key="az", api_version="2024-10-21", max_retries=0
    )
    completion = azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert completion.model == "my-deployment"
    embedding = azure.embeddings.create(model="emb-deployment", input="hello")
    assert len(embedding.data) == 1
    chat, emb = fake.requests
    assert chat.path == "/openai/deployments/my-deployment/chat/completions"
    assert chat.query["api-version"] == "2024-10-21" and chat.headers["api-key"] == "az"
    assert emb.path == "/openai/deployments/emb-deployment/embeddings"


def _sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events


def test_anthropic_messages(fake: FakeProvider) -> None:
    body = {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 100,
        "system": "be kind",
        "messages": MESSAGES,
    }
    message = httpx.post(fake.anthropic_base_url + "/v1/messages", json=body).json()
    assert message["type"] == "message" and message["stop_reason"] == "end_turn"
    assert message["content"] == [{"type": "text", "text": "Echo: Where is my order?"}]
    assert message["usage"]["input_tokens"] > 0

    fake.script(fp.answer(chunks=["Hi", " you"]))
    streamed = httpx.post(fake.anthropic_base_url + "/v1/messages", json={**body, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(streamed.content)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    deltas = [data["delta"]["text"] for name, data in events if name == "content_block_delta"]
    assert deltas == ["Hi", " you"]
    assert events[-2][1]["usage"]["output_tokens"] > 0
    assert all(name == data["type"] for name, data in events)


def test_anthropic_errors(fake: FakeProvider) -> None:
    body = {"model": "claude", "max_tokens": 10, "messages": MESSAGES}
    fake.script(fp.context_length(), fp.rate_limited(retry_after=2, status=529))
    too_long = httpx.post(fake.anthropic_base_url + "/v1/messages", json=body)
    assert too_long.status_code == 400
    assert too_long.json()["error"]["type"] == "invalid_request_error"
    assert "prompt is too long" in too_long.json()["error"]["message"]
    overloaded = httpx.post(fake.anthropic_base_url + "/v1/messages", json=body)
    assert (
        overloaded.status_code == 529 and overloaded.json()["error"]["type"] == "overloaded_error"
    )
    assert overloaded.headers["retry-after"] == "2"


def test_unknown_paths_and_bad_bodies(fake: FakeProvider) -> None:
    assert httpx.post(fake.url + "/v2/nothing", json={}).status_code == 404
    bad = httpx.post(fake.openai_base_url + "/chat/completions", content=b"[not json")
    assert bad.status_code == 400


def test_reset_and_no_recording() -> None:
    with FakeProvider(record=False) as quiet:
        httpx.get(quiet.openai_base_url + "/models")
        assert quiet.requests == []
        quiet.script(fp.answer("x"))
        quiet.reset()
        assert quiet.pending == 0


def test_default_behaviour_applies_when_the_script_is_empty() -> None:
    with FakeProvider(default=fp.server_error(503)) as failing:
        response = httpx.post(
            failing.openai_base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES}
        )
        assert response.status_code == 503
        failing.script(fp.answer("scripted wins"))
        response = httpx.post(
            failing.openai_base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES}
        )
        assert response.json()["choices"][0]["message"]["content"] == "scripted wins"


def test_runs_as_its_own_process() -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "mloop.llm.testing.fake_provider"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        with openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as c:
            completion = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices[0].message.content == "Echo: Where is my order?"
    finally:
        process.terminate()
        process.wait(timeout=10)
