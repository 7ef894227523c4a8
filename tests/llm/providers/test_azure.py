"""The Azure OpenAI adapter: deployment URLs, the api-key header, api-version."""

from __future__ import annotations

from typing import Any

import pytest
from tests.llm.providers.conftest import collect, run

from mloop.core.errors import ValidationError
from mloop.llm.errors import ProviderError
from mloop.llm.providers.openai import AzureOpenAIProvider
from mloop.llm.testing import fake_provider as fp
from mloop.llm.testing.fake_provider import FakeProvider
from mloop.llm.types import ChatRequest, EmbeddingRequest

KEY = "azure-key-0f9e8d7c6b5a4"
VERSION = "2024-10-21"


def _provider(fake: FakeProvider) -> AzureOpenAIProvider:
    return AzureOpenAIProvider(
        "azure", api_key=KEY, base_url=fake.azure_base_url + "/", api_version=VERSION
    )


def _request(**extra: Any) -> ChatRequest:
    return ChatRequest(model="r", messages=[{"role": "user", "content": "hello"}], **extra)


def test_chat_goes_to_the_deployment_with_the_api_key_header(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = _provider(fake)
        try:
            return await provider.chat(_request(), "prod-gpt4o", timeout=5)
        finally:
            await provider.aclose()

    result = run(go())
    assert result.text() == "Echo: hello"
    assert result.body["model"] == "prod-gpt4o"
    (sent,) = fake.requests
    assert sent.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert sent.query == {"api-version": VERSION}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers


def test_stream_and_embeddings(fake: FakeProvider) -> None:
    fake.script(fp.answer(chunks=["a", "b"]))

    async def go() -> tuple[list[dict[str, Any]], Any]:
        provider = _provider(fake)
        try:
            chunks = await collect(provider.stream(_request(stream=True), "dep", timeout=5))
            emb = await provider.embed(EmbeddingRequest(model="e", input="x"), "emb-dep", timeout=5)
            return chunks, emb
        finally:
            await provider.aclose()

    chunks, emb = run(go())
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert len(emb.vectors) == 1
    assert [r.path for r in fake.requests] == [
        "/openai/deployments/dep/chat/completions",
        "/openai/deployments/emb-dep/embeddings",
    ]
    assert all(r.query == {"api-version": VERSION} for r in fake.requests)


def test_deployment_names_cannot_escape_the_path(fake: FakeProvider) -> None:
    async def go() -> Any:
        provider = _provider(fake)
        try:
            return await provider.chat(_request(), "../../v1/models", timeout=5)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError, match="HTTP 404: no route POST /openai/deployments/"):
        run(go())
    assert fake.requests[0].path.startswith("/openai/deployments/")


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (fp.content_policy("content_filter"), "content_policy"),
        (fp.rate_limited(retry_after=4), "rate_limit"),
        (fp.context_length(), "context_length"),
        (
            fp.error(
                404,
                "The API deployment for this resource does not exist.",
                code="DeploymentNotFound",
            ),
            "not_found",
        ),
    ],
)
def test_azure_errors(fake: FakeProvider, behaviour: fp.Behaviour, kind: str) -> None:
    fake.script(behaviour)

    async def go() -> Any:
        provider = _provider(fake)
        try:
            return await provider.chat(_request(), "dep", timeout=5)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        run(go())
    assert info.value.kind == kind
    assert KEY not in str(info.value)


def test_azure_needs_an_api_version_and_endpoint() -> None:
    with pytest.raises(ValidationError, match="api_version"):
        AzureOpenAIProvider(
            "azure", api_key=KEY, base_url="https://x.openai.azure.com", api_version=""
        )
    with pytest.raises(ValidationError, match="base_url"):
        AzureOpenAIProvider("azure", api_key=KEY, base_url=None, api_version=VERSION)
    with pytest.raises(ValidationError, match="http"):
        AzureOpenAIProvider(
            "azure", api_key=KEY, base_url="x.openai.azure.com", api_version=VERSION
        )
