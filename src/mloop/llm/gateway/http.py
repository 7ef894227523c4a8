"""The OpenAI-compatible HTTP routes: ``/v1/chat/completions``, ``/v1/embeddings``,
``/v1/models``.

Errors come back in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) so the
stock ``openai`` client raises its usual exceptions; ``code`` is mloop's error code. Refusals
the caller cannot fix by retrying (a budget) carry ``x-should-retry: false``, which the
``openai`` client honours.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from mloop.auth.authenticator import Authenticator
from mloop.core.errors import MloopError, ValidationError
from mloop.core.http import Route, ServerParts, Surface
from mloop.core.roles import Role
from mloop.llm.errors import GatewayError, ProviderError
from mloop.llm.gateway.service import Caller, Gateway, GatewayStream
from mloop.llm.types import ChatRequest, EmbeddingRequest

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayHandlers:
    """The handlers of the ``/v1`` paths over the gateway ``get_gateway()`` returns (built on
    first use). Errors propagate to the surface's error writer."""

    def __init__(self, get_gateway: Callable[[], Gateway], auth: Authenticator) -> None:
        self._get_gateway = get_gateway
        self._auth = auth

    async def chat_completions(self, request: Request) -> Response:
        caller = await _caller(request, self._auth)
        gateway = self._get_gateway()
        body = await request.body()
        try:
            chat = _parse(ChatRequest, body)
        except ValidationError as exc:
            gateway.record_rejected("chat", _model_of(body), caller, exc)
            raise
        outcome = await gateway.chat(chat, caller)
        if isinstance(outcome, GatewayStream):
            return _EventStream(outcome)
        return Response(
            orjson.dumps(outcome.body), media_type="application/json", headers=outcome.headers
        )

    async def embeddings(self, request: Request) -> Response:
        caller = await _caller(request, self._auth)
        gateway = self._get_gateway()
        body = await request.body()
        try:
            req = _parse(EmbeddingRequest, body)
        except ValidationError as exc:
            gateway.record_rejected("embeddings", _model_of(body), caller, exc)
            raise
        outcome = await gateway.embeddings(req, caller)
        return Response(
            orjson.dumps(outcome.body), media_type="application/json", headers=outcome.headers
        )

    async def models(self, request: Request) -> Response:
        await _caller(request, self._auth, role="reader")
        data = self._get_gateway().models()
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/chat/completions",
                self.chat_completions,
                "writer",
                is_async=True,
                summary="OpenAI-compatible chat completion",
            ),
            Route(
                "POST",
                "/v1/embeddings",
                self.embeddings,
                "writer",
                is_async=True,
                summary="OpenAI-compatible embeddings",
            ),
            Route(
                "GET",
                "/v1/models",
                self.models,
                "reader",
                is_async=True,
                summary="Routes and provider models the gateway serves",
            ),
        ]


def _method_not_allowed(allowed: list[str]) -> Response:
    joined = ", ".join(allowed)
    return _error(
        ValidationError(f"use {joined} for this path"), status=405, headers={"allow": joined}
    )


def gateway_surface(handlers: GatewayHandlers) -> Surface:
    """The ``/v1`` routes, answering in OpenAI's error shape."""
    return Surface("openai", handlers.routes(), _error, _method_not_allowed)


def gateway_router(handlers: GatewayHandlers) -> APIRouter:
    """The ``/v1`` paths as FastAPI routes, for the OpenAPI document (the dispatcher answers
    them first)."""
    router = APIRouter(tags=["gateway"])
    for route in handlers.routes():
        router.add_api_route(
            route.path, route.handler, methods=[route.method], summary=route.summary
        )
    return router


def gateway_http(server: ServerParts) -> list[Surface | APIRouter]:
    """The gateway's surface, built lazily on first call; closed with the server."""
    from mloop.llm.gateway.setup import GatewayHolder

    holder = GatewayHolder(server.runtime)
    server.state["gateway"] = holder
    server.on_close.append(holder.aclose)
    handlers = GatewayHandlers(holder.get, server.auth)
    return [gateway_surface(handlers), gateway_router(handlers)]


async def _caller(request: Request, auth: Authenticator, role: Role = "writer") -> Caller:
    cached = auth.require_cached(request, role)
    identity = (
        cached if cached is not None else await run_in_threadpool(auth.require, request, role)
    )
    project = request.headers.get("x-mloop-project", "default")
    if not _PROJECT.match(project):
        raise ValidationError(
            "X-Mloop-Project must be 1-128 letters, digits, '.', '_' or '-'",
            field="X-Mloop-Project",
        )
    headers = {k: v for k, v in request.headers.items() if k.startswith("x-mloop-")}
    return Caller(token_name=identity.name, project=project, headers=headers)


def _model_of(body: bytes) -> str:
    """The ``model`` a malformed request named, if it can be read, for the call log."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "?"
    model = data.get("model") if isinstance(data, dict) else None
    return model[:256] if isinstance(model, str) and model else "?"


def _parse(model: type[Any], body: bytes) -> Any:
    if not body:
        raise ValidationError("the request body is empty: send a JSON object", field="body")
    try:
        return model.model_validate_json(body)
    except PydanticValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        if first.get("type") == "json_invalid":
            message, field = "the request body is not valid JSON", "body"
        else:
            field = ".".join(str(p) for p in first.get("loc", ())) or "body"
            message = f"{field}: {first.get('msg', 'invalid value')}"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more problems)"
        raise ValidationError(message, field=field) from None


def _error_parts(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    code: str
    field: str | None
    if isinstance(exc, ProviderError):
        status, code, field = exc.status_code, exc.kind, None
        if exc.kind == "rate_limit" and exc.retry_after is not None:
            headers["retry-after"] = str(max(1, round(exc.retry_after)))
    elif isinstance(exc, GatewayError):
        status, code, field = exc.http_status, exc.code, exc.field
        if exc.retry_after is not None:
            headers["retry-after"] = str(max(1, round(exc.retry_after)))
        if code == "BUDGET_EXCEEDED":
            # Retrying cannot help before the budget's window ends; the openai client
            # honours this header.
            headers["x-should-retry"] = "false"
    elif isinstance(exc, MloopError):
        status, code, field = exc.http_status, exc.code, exc.field
    else:
        status, code, field = 500, "INTERNAL_ERROR", None
    message = str(exc) if isinstance(exc, MloopError) else f"internal error: {type(exc).__name__}"
    body = {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "api_error"),
            "param": field,
            "code": code,
        }
    }
    return status, body, headers


def _error(
    exc: BaseException, *, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    if not isinstance(exc, MloopError):
        logging.getLogger("mloop.gateway").exception("unexpected gateway error")
    default_status, body, default_headers = _error_parts(exc)
    call_id = getattr(exc, "mloop_call_id", None)
    if call_id:
        default_headers["x-mloop-call-id"] = call_id
    status = status or default_status
    headers = {**default_headers, **(headers or {})}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


class _EventStream(StreamingResponse):
    """A gateway stream as server-sent events, closed when the response ends however it
    ends: a caller that disconnects before the first chunk still settles its call."""

    def __init__(self, stream: GatewayStream) -> None:
        super().__init__(_sse(stream), media_type="text/event-stream", headers=stream.headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.aclose()


async def _sse(stream: GatewayStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream.chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except Exception as exc:
        # Headers are sent: the error goes into the stream, where the openai client raises it.
        _status, body, _headers = _error_parts(exc)
        yield b"data: " + orjson.dumps(body) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
