"""Turning declared operations into HTTP routes.

Bodies are parsed straight from bytes with pydantic (faster than FastAPI's generic body
handling and independent of the Content-Type a client sends); the request model is still
published in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mloop.core.operations import Operation
from mloop.core.validation import from_pydantic
from mloop.server.security import Authenticator
from mloop.store.runtime import Runtime


def _parse(op: Operation[Any, Any], request: Request, body: bytes) -> Any:
    try:
        if op.method == "GET":
            params: dict[str, Any] = {}
            list_fields = {
                name
                for name, info in op.request.model_fields.items()
                if getattr(info.annotation, "__origin__", None) is list
            }
            for key, value in request.query_params.multi_items():
                if key in list_fields:
                    params.setdefault(key, []).append(value)
                else:
                    params[key] = value
            return op.request.model_validate(params)
        return op.request.model_validate_json(body or b"{}")
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None


def _endpoint(op: Operation[Any, Any], runtime: Runtime, auth: Authenticator) -> Any:
    def handle(request: Request, body: bytes) -> bytes:
        identity = auth.require(request, op.role)
        payload = _parse(op, request, body)
        result = runtime.run(
            lambda ctx: op.handler(ctx, payload), write=op.writes, actor=identity.name
        )
        return result.model_dump_json(by_alias=True).encode()

    async def endpoint(request: Request) -> Response:
        body = await request.body() if op.method == "POST" else b""
        return Response(
            await run_in_threadpool(handle, request, body), media_type="application/json"
        )

    return endpoint


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


def operation_router(
    operations: Iterable[Operation[Any, Any]],
    runtime: Runtime,
    auth: Authenticator,
    components: dict[str, Any],
) -> APIRouter:
    """One route per operation, documented in OpenAPI with its request and response models.

    Schemas that request bodies refer to are added to ``components`` for the OpenAPI document.
    """
    router = APIRouter()
    for op in operations:
        router.add_api_route(
            op.path,
            _endpoint(op, runtime, auth),
            methods=[op.method],
            response_model=op.response,
            name=op.name,
            summary=op.summary or op.name,
            tags=list(op.tags),
            openapi_extra=_openapi_extra(op, components),
        )
    return router
