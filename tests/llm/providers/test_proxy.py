"""Provider calls honour the proxy environment variables, read once per client session."""

from __future__ import annotations

import pytest
from tests.llm.providers.conftest import run

from mloop.llm.providers._http import env_proxy
from mloop.llm.providers.anthropic import AnthropicProvider
from mloop.llm.providers.openai import OpenAICompatibleProvider
from mloop.llm.testing.fake_provider import FakeProvider
from mloop.llm.types import ChatRequest

# Nothing listens here: a request that reaches it was not sent through the proxy.
UNREACHABLE = "http://llm.internal.example:9/v1"
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _request() -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "Where is my order?"}])


def test_no_proxy_variables_means_a_direct_connection() -> None:
    assert env_proxy("https://api.openai.com/v1") == (None, None)


def test_the_proxy_for_the_scheme_with_credentials_split_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://alice:s3cret@proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.corp:8080")
    proxy, headers = env_proxy("https://api.openai.com/v1")
    assert str(proxy) == "http://proxy.corp:3128"  # no password in the URL aiohttp logs
    assert headers == {"Proxy-Authorization": "Basic YWxpY2U6czNjcmV0"}  # alice:s3cret
    proxy, headers = env_proxy("http://vllm.local:8000/v1")
    assert str(proxy) == "http://plain.corp:8080" and headers is None


def test_no_proxy_exempts_hosts_and_all_proxy_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "proxy.corp:3128")  # a bare host:port is an HTTP proxy
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    assert str(env_proxy("https://api.anthropic.com")[0]) == "http://proxy.corp:3128"
    assert env_proxy("http://localhost:8000/v1") == (None, None)
    assert env_proxy("http://llm.internal.example:9/v1") == (None, None)


def test_a_socks_proxy_is_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://proxy.corp:1080")
    assert env_proxy("https://api.openai.com/v1") == (None, None)


def test_an_openai_compatible_call_goes_through_the_proxy(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake provider plays the proxy: an HTTP proxy receives the absolute URL.
    monkeypatch.setenv("HTTP_PROXY", fake.url.replace("http://", "http://bob:pw@"))

    async def call() -> str:
        provider = OpenAICompatibleProvider("vllm", base_url=UNREACHABLE)
        try:
            result = await provider.chat(_request(), "gpt-4o-mini", timeout=5)
        finally:
            await provider.aclose()
        return result.text()

    assert run(call()) == "Echo: Where is my order?"
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"]
    assert fake.requests[0].headers["proxy-authorization"] == "Basic Ym9iOnB3"  # bob:pw


def test_an_anthropic_call_goes_through_the_proxy(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake.url)

    async def call() -> str:
        provider = AnthropicProvider("claude", api_key="sk-ant-x", base_url=UNREACHABLE)
        try:
            result = await provider.chat(_request(), "claude-3-5-haiku-latest", timeout=5)
        finally:
            await provider.aclose()
        return result.text()

    assert run(call()) == "Echo: Where is my order?"
    assert [r.path for r in fake.requests] == ["/v1/messages"]
