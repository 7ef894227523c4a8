"""The gateway through the unmodified ``openai`` package: chat, streaming, embeddings, models,
every fallback path, errors in OpenAI's shape, authentication and the call log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from tests.conftest import ServerHandle
from tests.llm.gateway.conftest import PROVIDER_KEY, calls, gateway_config

from mloop.auth.tokens import create_token
from mloop.llm.testing.fake_provider import (
    FakeProvider,
    answer,
    content_policy,
    context_length,
    hang,
    malformed,
    rate_limited,
    server_error,
    stream_error,
    unauthorized,
)

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


def client(handle: ServerHandle, api_key: str = "unused", **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{handle.url}/v1", api_key=api_key, max_retries=0, **kw)


def test_chat_through_a_route(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(answer("Your order ships today."))
    raw = client(handle).chat.completions.with_raw_response.create(
        model="support-reply", messages=MESSAGES, temperature=0.2
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Your order ships today."
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-mloop-route"] == "support-reply"
    assert raw.headers["x-mloop-provider"] == "primary"
    sent = fake.requests[-1].json()
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.2
    assert sent["messages"] == MESSAGES
    assert fake.requests[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"

    (row,) = calls(handle)
    assert row["id"] == raw.headers["x-mloop-call-id"]
    assert (row["route"], row["provider"], row["model"]) == (
        "support-reply",
        "primary",
        "gpt-4o-mini",
    )
    assert row["status"] == "ok" and row["http_status"] == 200
    assert row["input_tokens"] == completion.usage.prompt_tokens
    assert row["output_tokens"] == completion.usage.completion_tokens
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None
    assert (row["retries"], row["fallbacks"]) == (0, 0)


def test_a_provider_model_named_directly(start_gateway: Callable[..., ServerHandle]) -> None:
    handle = start_gateway()
    completion = client(handle).chat.completions.create(model="backup/gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert calls(handle)[0]["route"] is None


def test_streaming(start_gateway: Callable[..., ServerHandle], fake: FakeProvider) -> None:
    handle = start_gateway()
    fake.script(answer("Your order ships today.", chunks=["Your ", "order ", "ships ", "today."]))
    stream = client(handle).chat.completions.create(
        model="support-reply", messages=MESSAGES, stream=True
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["Your ", "order ", "ships ", "today."]
    row = calls(handle)[0]
    assert row["stream"] and row["status"] == "ok"
    assert row["output_tokens"] > 0  # from the usage chunk the gateway asked the provider for
    assert row["ttft_ms"] <= row["latency_ms"]


def test_streaming_falls_back_before_the_first_token(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(rate_limited(retry_after=0), server_error(503), model="gpt-4o-mini")
    fake.script(answer("from the backup"), model="gpt-4o")
    stream = client(handle).chat.completions.create(
        model="support-reply", messages=MESSAGES, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "from the backup"
    (row,) = calls(handle)
    assert (row["retries"], row["fallbacks"]) == (1, 1)
    assert [a["outcome"] for a in json.loads(row["attempts_json"])] == [
        "rate_limit",
        "server",
        "ok",
    ]


def test_a_stream_failing_after_its_first_token_ends_with_an_error(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(stream_error(after_chunks=2), model="gpt-4o-mini")
    stream = client(handle).chat.completions.create(
        model="support-reply", messages=MESSAGES, stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError, match="error during the stream"):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received  # tokens reached the client, so there was no fallback
    assert all(r.json()["model"] == "gpt-4o-mini" for r in fake.requests)
    (row,) = calls(handle)
    assert row["status"] == "error"


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (rate_limited(retry_after=0), "rate_limit"),
        (server_error(500), "server"),
        (hang(60), "timeout"),
        (context_length(), "context_length"),
        (content_policy(), "content_policy"),
        (malformed(), "malformed"),
        (unauthorized(), "auth"),
    ],
)
def test_every_failure_kind_falls_back(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider, failure: Any, outcome: str
) -> None:
    config = gateway_config(fake)
    config["routes"]["support-reply"]["retries"] = 0
    # Only the hang needs a timeout short enough to wait out; the backup must still answer
    # within it (through uvicorn and the call log), so it stays seconds, not a fraction.
    config["routes"]["support-reply"]["timeout_seconds"] = 5 if outcome == "timeout" else 30
    handle = start_gateway(config)
    fake.script(failure, model="gpt-4o-mini")
    fake.script(answer("backup answer"), model="gpt-4o")
    completion = client(handle).chat.completions.create(model="support-reply", messages=MESSAGES)
    assert completion.choices[0].message.content == "backup answer"
    (row,) = calls(handle)
    attempts = json.loads(row["attempts_json"])
    assert [a["outcome"] for a in attempts] == [outcome, "ok"]
    assert row["fallbacks"] == 1 and row["provider"] == "backup"
    assert PROVIDER_KEY not in json.dumps(row)


def test_retries_honour_retry_after_then_succeed(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(rate_limited(retry_after=0.2), answer("second try"), model="gpt-4o-mini")
    completion = client(handle).chat.completions.create(model="support-reply", messages=MESSAGES)
    assert completion.choices[0].message.content == "second try"
    (row,) = calls(handle)
    assert (row["retries"], row["fallbacks"]) == (1, 0)
    assert row["latency_ms"] >= 200  # it waited what the provider asked for


def test_when_everything_fails_the_client_gets_the_last_error(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(*[server_error(502)] * 4)
    with pytest.raises(openai.APIStatusError) as info:
        client(handle).chat.completions.create(model="support-reply", messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "server"  # type: ignore[index]
    call_id = info.value.response.headers["x-mloop-call-id"]
    assert PROVIDER_KEY not in str(info.value.body)
    (row,) = calls(handle)
    assert row["id"] == call_id
    assert row["status"] == "error" and row["error_code"] == "server"
    assert len(json.loads(row["attempts_json"])) == 4


def test_a_bad_request_is_not_retried_elsewhere(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    from mloop.llm.testing.fake_provider import error

    handle = start_gateway()
    fake.script(error(400, "bad tool schema", error_type="invalid_request_error"))
    with pytest.raises(openai.BadRequestError, match="bad tool schema"):
        client(handle).chat.completions.create(model="support-reply", messages=MESSAGES)
    assert len(fake.requests) == 1


def test_through_anthropic(start_gateway: Callable[..., ServerHandle], fake: FakeProvider) -> None:
    config = gateway_config(fake)
    config["routes"]["claude-route"] = {
        "targets": [{"provider": "claude", "model": "claude-3-5-haiku-latest"}]
    }
    handle = start_gateway(config)
    fake.script(answer("Bonjour"), answer("Salut", chunks=["Sa", "lut"]))
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    completion = client(handle).chat.completions.create(model="claude-route", messages=messages)
    assert completion.choices[0].message.content == "Bonjour"
    sent = fake.requests[-1].json()
    assert sent["system"] == "Be brief." and fake.requests[-1].path.endswith("/v1/messages")
    stream = client(handle).chat.completions.create(
        model="claude-route", messages=messages, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Salut"
    rows = calls(handle)
    assert [r["provider"] for r in rows] == ["claude", "claude"]
    assert all(r["output_tokens"] > 0 for r in rows)


def test_embeddings_and_models(start_gateway: Callable[..., ServerHandle]) -> None:
    handle = start_gateway()
    result = client(handle).embeddings.create(
        model="primary/text-embedding-3-small", input=["a", "b"]
    )
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    ids = [m.id for m in client(handle).models.list()]
    assert ids[0] == "support-reply"
    assert "primary/gpt-4o-mini" in ids and "backup/gpt-4o" in ids
    (row,) = calls(handle)
    assert row["endpoint"] == "embeddings" and row["input_tokens"] > 0


def test_bad_requests_get_openai_shaped_errors(start_gateway: Callable[..., ServerHandle]) -> None:
    handle = start_gateway()
    with pytest.raises(openai.NotFoundError, match="neither a route"):
        client(handle).chat.completions.create(model="no-such-route", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client(handle).chat.completions.create(model="support-reply", messages=[])
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client(handle).chat.completions.create(
            model="support-reply", messages=MESSAGES, temperature=7
        )
    for body in (b"{not json", b"", b"[1, 2]", json.dumps({"model": "support-reply"}).encode()):
        response = httpx.post(f"{handle.url}/v1/chat/completions", content=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
    huge = {"model": "support-reply", "messages": [{"role": "user", "content": "x" * 40_000_000}]}
    response = httpx.post(f"{handle.url}/v1/chat/completions", json=huge)
    assert response.status_code == 413
    # Refused requests are in the call log too (the body-limit refusal never reaches it).
    rows = calls(handle)
    assert sorted(r["http_status"] for r in rows) == [400] * 6 + [404]
    assert all(r["status"] == "error" for r in rows)


def test_tokens_are_required_when_authentication_is_on(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway(auth_enabled=True)
    with pytest.raises(openai.AuthenticationError, match="the token is unknown or revoked"):
        client(handle, api_key="mlp_wrong").chat.completions.create(
            model="support-reply", messages=MESSAGES
        )
    reader = handle.runtime.run(lambda ctx: create_token(ctx, "viewer", "reader"), write=True)
    with pytest.raises(
        openai.PermissionDeniedError, match="token 'viewer' has role reader; this needs writer"
    ):
        client(handle, api_key=reader).chat.completions.create(
            model="support-reply", messages=MESSAGES
        )
    writer = handle.runtime.run(lambda ctx: create_token(ctx, "support-bot", "writer"), write=True)
    completion = client(handle, api_key=writer).chat.completions.create(
        model="support-reply", messages=MESSAGES
    )
    assert completion.choices[0].message.content
    # The caller's mloop token never reaches the provider.
    assert writer not in str(fake.requests[-1].headers)
    ok = [r for r in calls(handle) if r["status"] == "ok"]
    assert ok[0]["token_name"] == "support-bot"


def test_project_header(start_gateway: Callable[..., ServerHandle]) -> None:
    handle = start_gateway()
    c = client(handle, default_headers={"X-Mloop-Project": "helpdesk"})
    c.chat.completions.create(model="support-reply", messages=MESSAGES)
    assert calls(handle)[0]["project"] == "helpdesk"
    bad = client(handle, default_headers={"X-Mloop-Project": "../etc"})
    with pytest.raises(openai.BadRequestError, match="X-Mloop-Project"):
        bad.chat.completions.create(model="support-reply", messages=MESSAGES)


def test_captured_content_is_redacted_by_default(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    handle = start_gateway()
    fake.script(answer("Mail sent to jane@example.com"))
    client(handle).chat.completions.create(
        model="support-reply",
        messages=[{"role": "user", "content": "My card is 4242 4242 4242 4242"}],
    )
    (row,) = calls(handle)
    assert row["capture"] == "redacted"
    assert "4242 4242" not in row["request_json"] and "[PAYMENT_CARD]" in row["request_json"]
    assert "jane@example.com" not in row["response_json"] and "[EMAIL]" in row["response_json"]
    # The provider got the text as written: capture redaction is not a guardrail.
    assert "4242 4242 4242 4242" in json.dumps(fake.requests[-1].json())


def test_a_broken_configuration_is_reported_on_use(
    start_gateway: Callable[..., ServerHandle], fake: FakeProvider
) -> None:
    config = gateway_config(fake)
    config["routes"]["support-reply"]["targets"][0]["provider"] = "missing"
    handle = start_gateway(config)
    with pytest.raises(openai.BadRequestError, match="unknown provider 'missing'"):
        client(handle).chat.completions.create(model="support-reply", messages=MESSAGES)
    assert httpx.get(f"{handle.url}/health").status_code == 200


def test_the_v1_paths_are_in_the_openapi_document(
    start_gateway: Callable[..., ServerHandle],
) -> None:
    handle = start_gateway()
    # The first request builds the whole document: seconds on a loaded machine.
    paths = httpx.get(f"{handle.url}/api/openapi.json", timeout=60).json()["paths"]
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models"} <= set(paths)
    response = httpx.get(f"{handle.url}/v1/chat/completions")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
