"""Shared plumbing of the MLflow-compatible endpoints: parsing, errors, routing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson
import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.core.errors import ConflictError, MloopError, ValidationError
from mloop.core.validation import from_pydantic
from mloop.store.context import Context
from mloop.store.runtime import Runtime

Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
RequireFn = Callable[[Request, str], Any]
# (path, HTTP method, handler, role, writes)
Endpoint = tuple[str, str, Handler, str, bool]
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


# A quick endpoint with a body larger than this (a full log-batch) goes to a worker thread.
QUICK_BODY_BYTES = 64 * 1024


def _endpoint(
    runtime: Runtime, require: RequireFn, handler: Handler, role: str, writes: bool, quick: bool
) -> Callable[[Request], Any]:
    def call(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        identity = require(request, role)
        return runtime.run(lambda ctx: handler(ctx, body), write=writes, actor=identity.name)

    async def endpoint(request: Request) -> Response:
        try:
            raw = await request.body() if request.method != "GET" else b""
            body = parse_body(request, raw)
            body.update(request.path_params)
            # Small single-row reads and writes take well under a millisecond: running them
            # on the event loop saves two thread hand-offs, most of such a request's cost.
            if quick and len(raw) <= QUICK_BODY_BYTES:
                answer = call(request, body)
            else:
                answer = await run_in_threadpool(call, request, body)
        except MloopError as exc:
            return mlflow_error(exc)
        except pydantic.ValidationError as exc:
            return mlflow_error(from_pydantic(exc))
        return json_response(answer)

    return endpoint


def mlflow_router(
    runtime: Runtime,
    require: RequireFn,
    endpoints: Sequence[Endpoint],
    quick: Collection[Handler] = (),
) -> APIRouter:
    """The endpoints under both prefixes the MLflow client and UI use; ``quick`` handlers run
    on the event loop when their body is small."""
    router = APIRouter(include_in_schema=False)
    for prefix in PREFIXES:
        for path, method, handler, role, writes in endpoints:
            router.add_api_route(
                prefix + path,
                _endpoint(runtime, require, handler, role, writes, handler in quick),
                methods=[method],
                name=f"mlflow{path}:{method}",
            )
    return router
