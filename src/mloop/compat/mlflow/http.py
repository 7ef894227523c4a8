"""Shared plumbing of the MLflow-compatible endpoints: parsing, errors, the surface."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from mloop.auth.authenticator import Authenticator
from mloop.core.errors import ConflictError, MloopError, ValidationError
from mloop.core.http import Route, Surface
from mloop.core.roles import Role
from mloop.core.validation import from_pydantic
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.server")

Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def json_response(body: dict[str, Any]) -> Response:
    """A JSON answer; orjson, because search results run to hundreds of kilobytes."""
    return Response(orjson.dumps(body), media_type="application/json")


def mlflow_error(exc: MloopError) -> JSONResponse:
    """An mloop error as MLflow's error body and status."""
    code, status = exc.code, exc.http_status
    # MLflow reports a changed param as an invalid value, not as a conflict.
    if isinstance(exc, ConflictError) and (exc.field or "").startswith("params"):
        code, status = "INVALID_PARAMETER_VALUE", 400
    return JSONResponse({"error_code": code, "message": exc.message}, status_code=status)


def parse_body(request: Request, raw: bytes) -> dict[str, Any]:
    """The request's fields: the query string for GET, else the JSON object body."""
    if request.method == "GET":
        return dict(request.query_params)
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object", field="body")
    return body


def text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field (MLflow sends ids as strings or numbers)."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"Missing value for required parameter '{name}'", field=name)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(f"'{name}' must be a string, got {value!r}", field=name)
    return str(value)


def integer(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """An integer field, which MLflow may send as a string (int64 in protobuf JSON)."""
    value = body.get(name, default)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"'{name}' must be an integer, got {value!r}", field=name) from exc


def pairs(body: dict[str, Any], name: str) -> list[tuple[str, str]]:
    """A list of ``{"key", "value"}`` objects (tags, params) as pairs."""
    items = body.get(name) or []
    if not isinstance(items, list):
        raise ValidationError(f"'{name}' must be a list of key/value objects", field=name)
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "key" not in item:
            raise ValidationError(f"{name}[{i}] must be an object with key and value", field=name)
        pairs.append((str(item["key"]), "" if item.get("value") is None else str(item["value"])))
    return pairs


@dataclass(frozen=True)
class Endpoint:
    """One MLflow REST endpoint (``path`` below the API prefix).

    ``quick`` endpoints read or write a single row: cheap enough to run on the event loop.
    """

    path: str
    method: str
    handler: Handler
    role: Role
    quick: bool = False

    @property
    def writes(self) -> bool:
        return self.role != "reader"


def _route(runtime: Runtime, auth: Authenticator, prefix: str, endpoint: Endpoint) -> Route:
    def call(request: Request, raw: bytes) -> Response:
        try:
            body = parse_body(request, raw)
            body.update(request.path_params)
            identity = auth.require(request, endpoint.role)
            answer = runtime.run(
                lambda ctx: endpoint.handler(ctx, body), write=endpoint.writes, actor=identity.name
            )
        except pydantic.ValidationError as exc:
            raise from_pydantic(exc) from None
        return json_response(answer)

    return Route(
        endpoint.method,
        prefix + endpoint.path,
        call,
        endpoint.role,
        name=f"mlflow{endpoint.path}:{endpoint.method}",
        quick=endpoint.quick,
    )


def _error(exc: BaseException) -> Response:
    if isinstance(exc, MloopError):
        return mlflow_error(exc)
    log.exception("unhandled error in an MLflow endpoint", exc_info=exc)
    return JSONResponse(
        {"error_code": "INTERNAL_ERROR", "message": f"internal error: {type(exc).__name__}"},
        status_code=500,
    )


def _method_not_allowed(allowed: list[str]) -> Response:
    return JSONResponse(
        {"error_code": "BAD_REQUEST", "message": f"use {', '.join(allowed)} for this path"},
        status_code=405,
        headers={"Allow": ", ".join(allowed)},
    )


def mlflow_surface(
    runtime: Runtime, auth: Authenticator, endpoints: Sequence[Endpoint], extra: Sequence[Route]
) -> Surface:
    """The endpoints under both prefixes the MLflow client and UI use, plus ``extra``
    routes (the artifact repository) that answer in MLflow's error shape."""
    routes = [_route(runtime, auth, prefix, e) for prefix in PREFIXES for e in endpoints]
    return Surface("mlflow", [*routes, *extra], _error, _method_not_allowed)
