"""Adapters for OpenAI's API and everything that speaks it: OpenAI itself, Azure OpenAI, and
OpenAI-compatible servers (vLLM, Ollama, llama.cpp server, LM Studio ...).

The request body is the caller's, minus mloop's own fields, so new OpenAI parameters pass
through. Streams always ask the provider for usage (``stream_options.include_usage``) so every
streamed call can be priced: the last chunk then has ``choices: []`` and ``usage``, also for
callers that did not ask for it (a gateway passing chunks on should drop it for them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from mloop.core.errors import ValidationError
from mloop.llm.errors import ProviderError
from mloop.llm.providers._http import (
    TRANSPORT_ERRORS,
    HttpPool,
    iter_sse,
    scrub,
    stream_timeout,
    transport_error,
)
from mloop.llm.providers._openai_errors import classify_openai_error, classify_stream_error
from mloop.llm.providers.base import Provider
from mloop.llm.types import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult
from mloop.llm.usage import Usage

_JSON = {"content-type": "application/json", "accept": "application/json"}
_SSE = {"content-type": "application/json", "accept": "text/event-stream"}


class _OpenAIStyle(Provider):
    """The shared body of the OpenAI-style adapters; subclasses say where and how to auth."""

    default_base_url = ""

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
    ) -> None:
        super().__init__(name)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValidationError(
                f"provider {name!r}: base_url {self.base_url!r} must start with http:// or https://",
                field="base_url",
            )
        self._key = api_key or None
        self._pool = HttpPool(
            max_connections=max_connections, headers=headers or {}, base_url=self.base_url
        )
        # Auth goes per request, not into the client's defaults, so no repr of the client or
        # its headers can ever show the key.
        auth = self._auth_headers()
        self._json_headers = {**_JSON, **auth}
        self._sse_headers = {**_SSE, **auth}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    def _auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._key}"} if self._key else {}

    def _url(self, endpoint: str, model: str) -> str:
        return f"{self.base_url}/{endpoint}"

    def _params(self) -> dict[str, str] | None:
        return None

    async def aclose(self) -> None:
        await self._pool.aclose()

    # -- errors --------------------------------------------------------------------------

    def _status_error(
        self, response: aiohttp.ClientResponse, content: bytes, model: str
    ) -> ProviderError:
        return classify_openai_error(
            response.status,
            response.headers,
            content,
            provider=self.name,
            model=model,
            secret=self._key,
        )

    def _malformed(self, model: str, what: str) -> ProviderError:
        return ProviderError(
            "malformed", scrub(what, self._key), provider=self.name, model=model, status=200
        )

    # -- calls ---------------------------------------------------------------------------

    async def _post_json(
        self, endpoint: str, body: dict[str, Any], model: str, timeout: float
    ) -> Any:
        """POST ``body``; the parsed JSON answer of a 2xx, else a classified ProviderError."""
        try:
            async with (
                asyncio.timeout(timeout),
                self._pool.post(
                    self._url(endpoint, model),
                    data=orjson.dumps(body),
                    headers=self._json_headers,
                    params=self._params(),
                ) as response,
            ):
                content = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, provider=self.name, model=model, timeout=timeout) from None
        if response.status >= 300:
            raise self._status_error(response, content, model)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise self._malformed(
                model, f"HTTP {response.status} with a body that is not JSON"
            ) from None

    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        body = request.provider_body(model)
        body.pop("stream", None)
        body.pop("stream_options", None)
        data = await self._post_json("chat/completions", body, model, timeout)
        choices = data.get("choices") if isinstance(data, dict) else None
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices)
        ):
            raise self._malformed(
                model, "the answer has no choices[].message: not a chat completion"
            )
        usage = self._usage(data.get("usage"), model)
        return ChatResult(body=data, usage=usage, provider=self.name, model=model)

    def _usage(self, raw: Any, model: str) -> Usage:
        if raw is None:
            return Usage()  # some OpenAI-compatible servers report none; the call costs 0
        try:
            return Usage.from_openai(raw)
        except ValidationError as exc:
            raise self._malformed(model, f"unusable usage report: {exc.message}") from None

    async def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        body = request.provider_body(model)
        body["stream"] = True
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        try:
            async with self._pool.post(
                self._url("chat/completions", model),
                data=orjson.dumps(body),
                headers=self._sse_headers,
                params=self._params(),
                timeout=stream_timeout(timeout),
            ) as response:
                if response.status >= 300:
                    content = await response.read()
                    raise self._status_error(response, content, model)
                async for chunk in self._chunks(response, model):
                    yield chunk
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, provider=self.name, model=model, timeout=timeout) from None

    async def _chunks(
        self, response: aiohttp.ClientResponse, model: str
    ) -> AsyncIterator[dict[str, Any]]:
        finished = False
        async for event in iter_sse(response):
            if event.data == "[DONE]":
                return
            try:
                chunk = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise self._malformed(model, "a stream event is not JSON") from None
            if not isinstance(chunk, dict):
                raise self._malformed(model, "a stream event is not a JSON object")
            if "error" in chunk or event.event == "error":
                raise classify_stream_error(
                    chunk.get("error", chunk), provider=self.name, model=model, secret=self._key
                )
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                raise self._malformed(model, "a stream chunk has no choices list")
            if any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
                finished = True
            if chunk.get("usage") is not None:
                self._usage(chunk["usage"], model)  # validate now: a bad report is malformed
            yield chunk
        if not finished:
            raise ProviderError(
                "connection",
                "the stream ended before the answer finished",
                provider=self.name,
                model=model,
            )

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResult:
        body = request.model_dump(exclude_none=True)
        body["model"] = model
        data = await self._post_json("embeddings", body, model, timeout)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and "embedding" in i for i in items
        ):
            raise self._malformed(
                model, "the answer has no data[].embedding: not an embeddings list"
            )
        if len(items) != len(request.inputs()):
            raise self._malformed(
                model, f"{len(items)} embeddings for {len(request.inputs())} inputs"
            )
        vectors = [i["embedding"] for i in items if isinstance(i["embedding"], list)]
        usage = self._usage(data.get("usage"), model)
        return EmbeddingResult(
            body=data, usage=usage, provider=self.name, model=model, vectors=vectors
        )


class OpenAIProvider(_OpenAIStyle):
    """OpenAI's API (``kind: openai``); needs a key."""

    kind = "openai"
    default_base_url = "https://api.openai.com/v1"


class OpenAICompatibleProvider(_OpenAIStyle):
    """Any server with OpenAI's API at ``base_url`` (``kind: openai_compatible``): vLLM,
    Ollama (``http://127.0.0.1:11434/v1``), llama.cpp server, LM Studio. The key is optional."""

    kind = "openai_compatible"


class AzureOpenAIProvider(_OpenAIStyle):
    """Azure OpenAI (``kind: azure``): ``base_url`` is the resource endpoint
    (``https://NAME.openai.azure.com``), a target's model is the deployment name, and the key
    goes in the ``api-key`` header."""

    kind = "azure"

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
    ) -> None:
        if not api_version:
            raise ValidationError(
                f"provider {name!r}: azure needs api_version (e.g. 2024-10-21)", field="api_version"
            )
        if not base_url:
            raise ValidationError(
                f"provider {name!r}: azure needs base_url, the resource endpoint", field="base_url"
            )
        self.api_version = api_version
        super().__init__(
            name,
            api_key=api_key,
            base_url=base_url,
            headers=headers,
            max_connections=max_connections,
        )

    def _auth_headers(self) -> dict[str, str]:
        return {"api-key": self._key} if self._key else {}

    def _url(self, endpoint: str, model: str) -> str:
        return f"{self.base_url}/openai/deployments/{quote(model, safe='')}/{endpoint}"

    def _params(self) -> dict[str, str]:
        return {"api-version": self.api_version}
