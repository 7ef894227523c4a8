"""The Anthropic adapter: OpenAI chat requests in, Messages API calls out, OpenAI shapes back.

See ``_anthropic_format`` for how requests and answers are translated and
``_anthropic_stream`` for streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from mloop.core.errors import ValidationError
from mloop.llm.errors import ErrorKind, ProviderError
from mloop.llm.providers._anthropic_format import (
    TranslationError,
    to_chat_completion,
    to_messages_body,
)
from mloop.llm.providers._anthropic_stream import StreamShapeError, StreamTranslator
from mloop.llm.providers._http import (
    TRANSPORT_ERRORS,
    HttpPool,
    iter_sse,
    json_error_fields,
    parse_retry_after,
    scrub,
    stream_timeout,
    transport_error,
)
from mloop.llm.providers.base import Provider
from mloop.llm.types import ChatRequest, ChatResult
from mloop.llm.usage import Usage

ANTHROPIC_VERSION = "2023-06-01"

# error.type -> kind; see https://docs.anthropic.com/en/api/errors
_ERROR_TYPES: dict[str, ErrorKind] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",
    "not_found_error": "not_found",
    "request_too_large": "bad_request",
    "rate_limit_error": "rate_limit",
    "api_error": "server",
    "overloaded_error": "rate_limit",  # 529: capacity, clears with time like a 429
    "timeout_error": "timeout",
}


class AnthropicProvider(Provider):
    """Anthropic's Messages API (``kind: anthropic``); needs a key."""

    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"

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
        base = (base_url or self.default_base_url).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValidationError(
                f"provider {name!r}: base_url {base!r} must start with http:// or https://",
                field="base_url",
            )
        # Accept the endpoint with or without the version path, as Anthropic's SDK does not.
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self._key = api_key or None
        self._pool = HttpPool(
            max_connections=max_connections, headers=headers or {}, base_url=self.base_url
        )
        auth = {"x-api-key": self._key} if self._key else {}
        common = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        self._json_headers = {**common, "accept": "application/json", **auth}
        self._sse_headers = {**common, "accept": "text/event-stream", **auth}
        self._url = f"{self.base_url}/v1/messages"

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._pool.aclose()

    # -- errors --------------------------------------------------------------------------

    def _error(self, kind: ErrorKind, text: str, model: str, **extra: Any) -> ProviderError:
        return ProviderError(kind, scrub(text, self._key), provider=self.name, model=model, **extra)

    def _status_error(
        self, response: aiohttp.ClientResponse, content: bytes, model: str
    ) -> ProviderError:
        status = response.status
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            body = None
        message, etype, _ = json_error_fields(body)
        message = message or content[:200].decode("utf-8", "replace").strip() or "no error text"
        kind = _kind(status, etype, message)
        retry_after = (
            parse_retry_after(response.headers) if kind in ("rate_limit", "server") else None
        )
        label = f"HTTP {status}" + (f" {etype}" if etype else "")
        return self._error(
            kind, f"{label}: {message}", model, status=status, retry_after=retry_after
        )

    def _bad_request(self, exc: TranslationError, model: str) -> ProviderError:
        return self._error("bad_request", f"{exc.field}: {exc}", model)

    # -- calls ---------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        try:
            body = to_messages_body(request, model, stream=False)
        except TranslationError as exc:
            raise self._bad_request(exc, model) from None
        try:
            async with (
                asyncio.timeout(timeout),
                self._pool.post(
                    self._url, data=orjson.dumps(body), headers=self._json_headers
                ) as response,
            ):
                content = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, provider=self.name, model=model, timeout=timeout) from None
        if response.status >= 300:
            raise self._status_error(response, content, model)
        try:
            message = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise self._error("malformed", "HTTP 200 with a body that is not JSON", model) from None
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("content"), list)
            or not all(isinstance(b, dict) for b in message["content"])
            or not isinstance(message.get("usage"), dict)
        ):
            raise self._error("malformed", "the answer is not a Messages API message", model)
        try:
            usage = Usage.from_anthropic(message["usage"])
        except ValidationError as exc:
            raise self._error("malformed", f"unusable usage report: {exc.message}", model) from None
        body_out = to_chat_completion(message, usage, model)
        return ChatResult(body=body_out, usage=usage, provider=self.name, model=model)

    async def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            body = to_messages_body(request, model, stream=True)
        except TranslationError as exc:
            raise self._bad_request(exc, model) from None
        try:
            async with self._pool.post(
                self._url,
                data=orjson.dumps(body),
                headers=self._sse_headers,
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
        translator = StreamTranslator(model)
        async for sse in iter_sse(response):
            try:
                event = orjson.loads(sse.data)
            except orjson.JSONDecodeError:
                raise self._error("malformed", "a stream event is not JSON", model) from None
            if not isinstance(event, dict):
                raise self._error("malformed", "a stream event is not a JSON object", model)
            if event.get("type") == "error" or sse.event == "error":
                message, etype, _ = json_error_fields(event)
                kind = _ERROR_TYPES.get(etype, "server")
                if kind == "bad_request" and _too_long(message):
                    kind = "context_length"
                raise self._error(kind, f"error during the stream: {etype}: {message}", model)
            try:
                chunks = translator.feed(event)
            except (StreamShapeError, ValidationError) as exc:
                raise self._error("malformed", f"stream event: {exc}", model) from None
            for chunk in chunks:
                yield chunk
            if translator.finished:
                return
        raise self._error("connection", "the stream ended before message_stop", model)


def _too_long(message: str) -> bool:
    lowered = message.lower()
    return (
        "prompt is too long" in lowered
        or "context window" in lowered
        or "too many tokens" in lowered
    )


def _kind(status: int, etype: str, message: str) -> ErrorKind:
    kind = _ERROR_TYPES.get(etype)
    if kind is None:
        if status == 429 or status == 529:
            kind = "rate_limit"
        elif status in (401, 403):
            kind = "auth"
        elif status == 404:
            kind = "not_found"
        elif status >= 500:
            kind = "server"
        else:
            kind = "bad_request"
    if kind == "bad_request" and _too_long(message):
        return "context_length"
    return kind
