"""Serving declared operations over HTTP.

Operations are dispatched by an exact ``(method, path)`` lookup in a thin ASGI layer in
front of FastAPI's router: on a small machine, generic routing and dependency solving cost
more than the handlers themselves. Bodies are parsed straight from bytes with pydantic,
whatever Content-Type a client sends. FastAPI still publishes every operation, with its
request and response models, in the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pydantic
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop.core.errors import MloopError
from mloop.core.operations import Operation
from mloop.core.validation import from_pydantic
from mloop.server.errors import error_body
from mloop.server.security import Authenticator
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.server")

# A quick operation with a body larger than this (a big metric batch) still goes to a worker
# thread, so that it cannot hold up the event loop.
QUICK_BODY_BYTES = 64 * 1024


def _list_fields(op: Operation[Any, Any]) -> frozenset[str]:
    return frozenset(
        name
        for name, info in op.request.model_fields.items()
        if getattr(info.annotation, "__origin__", None) is list
    )


class _OperationHandler:
    """Authenticates, parses, runs one operation in a transaction, and serialises."""

    def __init__(self, op: Operation[Any, Any], runtime: Runtime, auth: Authenticator) -> None:
        self.op = op
        self.runtime = runtime
        self.auth = auth
        self.list_fields = _list_fields(op)

    def _parse(self, request: Request, body: bytes) -> Any:
        try:
            if self.op.method == "GET":
                params: dict[str, Any] = {}
                for key, value in request.query_params.multi_items():
                    if key in self.list_fields:
                        params.setdefault(key, []).append(value)
                    else:
                        params[key] = value
                return self.op.request.model_validate(params)
            return self.op.request.model_validate_json(body or b"{}")
        except pydantic.ValidationError as exc:
            raise from_pydantic(exc) from None

    def __call__(self, request: Request, body: bytes) -> bytes:
        identity = self.auth.require(request, self.op.role)
        payload = self._parse(request, body)
        result = self.runtime.run(
            lambda ctx: self.op.handler(ctx, payload), write=self.op.writes, actor=identity.name
        )
        return result.model_dump_json(by_alias=True).encode()


class OperationDispatcher:
    """ASGI middleware that answers operation paths and passes everything else on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        operations: Iterable[Operation[Any, Any]],
        runtime: Runtime,
        auth: Authenticator,
    ) -> None:
        self.app = app
        self.handlers = {
            (op.method, op.path): _OperationHandler(op, runtime, auth) for op in operations
        }
        self.paths = {path for _method, path in self.handlers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        handler = self.handlers.get((scope["method"], scope["path"]))
        response = await self._respond(handler, Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, handler: _OperationHandler | None, request: Request) -> Response:
        if handler is None:
            allowed = [m for m, p in self.handlers if p == request.url.path]
            return JSONResponse(
                error_body("METHOD_NOT_ALLOWED", f"use {', '.join(allowed)} for this path"),
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        try:
            body = await request.body() if handler.op.method == "POST" else b""
            if handler.op.quick and len(body) <= QUICK_BODY_BYTES:
                content = handler(request, body)
            else:
                content = await run_in_threadpool(handler, request, body)
        except MloopError as exc:
            return JSONResponse(
                error_body(exc.code, exc.message, exc.field), status_code=exc.http_status
            )
        except Exception:
            log.exception("unhandled error in %s", handler.op.name)
            return JSONResponse(
                error_body("INTERNAL_ERROR", f"internal error in {handler.op.name}"),
                status_code=500,
            )
        return Response(content, media_type="application/json")


def _openapi_extra(op: Operation[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = op.request.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    if op.method == "GET":
        return {
            "parameters": [
                {"name": name, "in": "query", "required": info.is_required(), "schema": {}}
                for name, info in op.request.model_fields.items()
            ]
        }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _documented_only() -> None:  # pragma: no cover - the dispatcher answers first
    raise RuntimeError("operations are served by OperationDispatcher")


def documentation_routes(
    operations: Iterable[Operation[Any, Any]], components: dict[str, Any]
) -> list[APIRoute]:
    """Routes that describe the operations in OpenAPI (they are not used to route).

    Schemas that request bodies refer to are added to ``components``.
    """
    return [
        APIRoute(
            op.path,
            _documented_only,
            methods=[op.method],
            response_model=op.response,
            name=op.name,
            summary=op.summary or op.name,
            tags=list(op.tags),
            openapi_extra=_openapi_extra(op, components),
        )
        for op in operations
    ]
