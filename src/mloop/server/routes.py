"""mloop's own API: declared operations as a surface of the dispatcher, and in OpenAPI.

Bodies are parsed straight from bytes with pydantic, whatever Content-Type a client sends.
FastAPI still publishes every operation, with its request and response models, in the
OpenAPI document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import pydantic
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from mloop.auth.authenticator import Authenticator
from mloop.core.errors import MloopError
from mloop.core.files import FileRoute
from mloop.core.http import Route, Surface
from mloop.core.operations import Operation
from mloop.core.validation import from_pydantic
from mloop.server.errors import error_body
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.server")

# ``{path:path}`` in a route template is ``{path}`` in OpenAPI.
_PATH_CONVERTER = re.compile(r"\{([a-z_]+):path\}")


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

    def __call__(self, request: Request, body: bytes) -> Response:
        identity = self.auth.require(request, self.op.role)
        payload = self._parse(request, body)
        try:
            result = self.runtime.run(
                lambda ctx: self.op.handler(ctx, payload), write=self.op.writes, actor=identity.name
            )
        except MloopError:
            raise
        except Exception as exc:
            log.exception("unhandled error in %s", self.op.name)
            raise _Internal(self.op.name) from exc
        return Response(result.model_dump_json(by_alias=True), media_type="application/json")


class _Internal(Exception):
    """An unexpected failure inside an operation (logged where it happened)."""

    def __init__(self, operation: str) -> None:
        super().__init__(operation)
        self.operation = operation


def _error(exc: BaseException) -> Response:
    if isinstance(exc, MloopError):
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field), status_code=exc.http_status
        )
    if isinstance(exc, _Internal):
        message = f"internal error in {exc.operation}"
    else:
        log.exception("unhandled error", exc_info=exc)
        message = f"internal error: {type(exc).__name__}"
    return JSONResponse(error_body("INTERNAL_ERROR", message), status_code=500)


def _method_not_allowed(allowed: list[str]) -> Response:
    return JSONResponse(
        error_body("METHOD_NOT_ALLOWED", f"use {', '.join(allowed)} for this path"),
        status_code=405,
        headers={"Allow": ", ".join(allowed)},
    )


def operations_surface(
    operations: Iterable[Operation[Any, Any]],
    runtime: Runtime,
    auth: Authenticator,
    *,
    extra: Iterable[Route] = (),
) -> Surface:
    """Every declared operation as a route of mloop's API, plus ``extra`` routes (files)."""
    routes = [
        Route(
            op.method,
            op.path,
            _OperationHandler(op, runtime, auth),
            op.role,
            name=op.name,
            quick=op.quick,
        )
        for op in operations
    ]
    # The file routes among ``extra`` are documented by :func:`file_documentation_routes`.
    return Surface("mloop", [*routes, *extra], _error, _method_not_allowed)


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

# What any operation may answer besides success, with mloop's error body.
_ERROR_STATUSES = {
    "400": "Invalid request: the error names the field",
    "401": "A token is needed (authentication is on)",
    "403": "The token's role may not do this",
    "404": "Something the request names does not exist",
    "409": "The request conflicts with what is stored",
    "413": "The body is over the server's limit",
}


def _errors() -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for status, description in _ERROR_STATUSES.items()
    }


def _openapi_extra(op: Operation[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = op.request.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    errors = _errors()
    if op.method == "GET":
        properties = schema.get("properties", {})
        return {
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": info.is_required(),
                    "schema": properties.get(info.alias or name, {}),
                }
                for name, info in op.request.model_fields.items()
            ],
            "responses": errors,
        }
    # A request whose fields all have defaults may be sent without a body (as ``{}``).
    body_required = any(info.is_required() for info in op.request.model_fields.values())
    return {
        "requestBody": {
            "required": body_required,
            "content": {"application/json": {"schema": schema}},
        },
        "responses": errors,
    }


async def _documented_only() -> None:  # pragma: no cover - the dispatcher answers first
    raise RuntimeError("operations are served by the dispatcher")


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


def _file_openapi_extra(route: FileRoute) -> dict[str, Any]:
    """Path parameters, the streamed body and the answers of one file route."""
    extra: dict[str, Any] = {
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": pydantic.TypeAdapter(route.param_types.get(name, str)).json_schema(),
            }
            for name in route.params
        ],
        "responses": _errors(),
    }
    if route.is_upload:
        extra["requestBody"] = {
            # No body is an empty file.
            "required": False,
            "content": {"application/octet-stream": {"schema": {"format": "binary"}}},
        }
    else:
        extra["responses"]["200"] = {
            "description": "The file's bytes",
            "content": {route.media_type: {"schema": {"format": "binary"}}},
        }
    return extra


def file_documentation_routes(routes: Iterable[FileRoute]) -> list[APIRoute]:
    """Routes that describe the declared file routes in OpenAPI (not used to route)."""
    return [
        APIRoute(
            _PATH_CONVERTER.sub(r"{\1}", route.path),
            _documented_only,
            methods=[route.method],
            response_model=route.response,
            name=route.name,
            summary=route.summary or route.name,
            tags=[route.tag] if route.tag else None,
            openapi_extra=_file_openapi_extra(route),
        )
        for route in routes
    ]
