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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop.auth.tokens import Role
from mloop.core.errors import MloopError, ValidationError
from mloop.llm.errors import GatewayError, ProviderError
from mloop.llm.gateway.service import Caller, Gateway, GatewayStream
from mloop.llm.types import ChatRequest, EmbeddingRequest
from mloop.server.security import Authenticator

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
    first use)."""

    def __init__(self, get_gateway: Callable[[], Gateway], auth: Authenticator) -> None:
        self._get_gateway = get_gateway
        self._auth = auth

    def by_path(self) -> dict[tuple[str, str], Callable[[Request], Awaitable[Response]]]:
        return {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/v1/embeddings"): self.embeddings,
            ("GET", "/v1/models"): self.models,
        }

    async def chat_completions(self, request: Request) -> Response:
        try:
            caller = await _caller(request, self._auth)
            gateway = self._get_gateway()
            body = await request.body()
            try:
                chat = _parse(ChatRequest, body)
            except ValidationError as exc:
                gateway.record_rejected("chat", _model_of(body), caller, exc)
                raise
            outcome = await gateway.chat(chat, caller)
        except Exception as exc:
            return _error(exc)
        if isinstance(outcome, GatewayStream):
            return StreamingResponse(
                _sse(outcome), media_type="text/event-stream", headers=outcome.headers
            )
        return Response(
            orjson.dumps(outcome.body), media_type="application/json", headers=outcome.headers
        )

    async def embeddings(self, request: Request) -> Response:
        try:
            caller = await _caller(request, self._auth)
            gateway = self._get_gateway()
            body = await request.body()
            try:
                req = _parse(EmbeddingRequest, body)
            except ValidationError as exc:
                gateway.record_rejected("embeddings", _model_of(body), caller, exc)
                raise
            outcome = await gateway.embeddings(req, caller)
        except Exception as exc:
            return _error(exc)
        return Response(
            orjson.dumps(outcome.body), media_type="application/json", headers=outcome.headers
        )

    async def models(self, request: Request) -> Response:
        try:
            await _caller(request, self._auth, role="reader")
            data = self._get_gateway().models()
        except Exception as exc:
            return _error(exc)
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )


class GatewayDispatcher:
    """ASGI middleware that answers the ``/v1`` paths before FastAPI's router: matching a
    path against every route of the app costs more than the gateway's own work."""

    def __init__(self, app: ASGIApp, *, handlers: GatewayHandlers) -> None:
        self.app = app
        self.handlers = handlers.by_path()
        self.paths = {path for _method, path in self.handlers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        handler = self.handlers.get((scope["method"], scope["path"]))
        if handler is None:
            allowed = ", ".join(m for m, p in self.handlers if p == scope["path"])
            error = ValidationError(f"use {allowed} for this path")
            response = _error(error, status=405, headers={"allow": allowed})
        else:
            response = await handler(Request(scope, receive))
        await response(scope, receive, send)


def gateway_router(handlers: GatewayHandlers) -> APIRouter:
    """The ``/v1`` paths as FastAPI routes, for the OpenAPI document (and for an app served
    without :class:`GatewayDispatcher` in front, which answers them first otherwise)."""
    router = APIRouter(tags=["gateway"])
    summaries = {
        "/v1/chat/completions": "OpenAI-compatible chat completion",
        "/v1/embeddings": "OpenAI-compatible embeddings",
        "/v1/models": "Routes and provider models the gateway serves",
    }
    for (method, path), handler in handlers.by_path().items():
        router.add_api_route(path, handler, methods=[method], summary=summaries[path])
    return router


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
        status, code, field = exc.status_code, exc.error_code, exc.field
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
