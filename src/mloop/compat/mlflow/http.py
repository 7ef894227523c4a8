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


# Protobuf's int64, the type of MLflow's integer fields; larger numbers would overflow the store.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _kind(value: Any) -> str:
    """The JSON type of ``value``, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def invalid(where: str, value: Any, expected: str) -> ValidationError:
    """A refused field value, worded as MLflow's server words it (clients and MLflow's own
    tests match on "Invalid value <json> for parameter '<name>' supplied")."""
    try:
        shown = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        shown = repr(value)
    if len(shown) > 200:  # a huge body is not echoed back whole
        shown = shown[:200] + "..."
    return ValidationError(
        f"Invalid value {shown} for parameter '{where}' supplied: "
        f"it must be {expected}, got {_kind(value)}",
        field=where,
    )


def missing(where: str) -> ValidationError:
    """A required field left out, null or empty (protobuf JSON cannot tell these apart)."""
    return ValidationError(f"Missing value for required parameter '{where}'.", field=where)


def text(
    body: dict[str, Any], name: str, *, required: bool = True, label: str | None = None
) -> str | None:
    """A string field; a number, boolean, list or object is refused, as MLflow refuses it.
    ``label`` names the field in errors when it sits inside another (``datasets[0].dataset.name``).
    """
    where = label or name
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise missing(where)
        return None
    if not isinstance(value, str):
        raise invalid(where, value, "a string")
    return value


def unquote(raw: str) -> str:
    """A quoted literal of MLflow's filter languages (``'a''b'`` or ``"a""b"``) as its text."""
    quote = raw[0]
    return raw[1:-1].replace(quote * 2, quote)


def artifact_subpath(body: dict[str, Any], name: str) -> str:
    """A path inside an artifact root: relative, never up (``..``), as MLflow checks it and
    with MLflow's answer, "Invalid path", which its clients and tests match on."""
    path = text(body, name, required=False) or ""
    if (
        path.startswith(("/", "\\"))
        or "\x00" in path
        or "\\" in path
        or any(part == ".." for part in path.split("/"))
    ):
        raise ValidationError("Invalid path", field=name)
    return path


def value_text(body: dict[str, Any], name: str, *, label: str | None = None) -> str:
    """A tag or param value: a string, or null (empty, protobuf JSON's default)."""
    where = label or name
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(where, value, "a string")
    return value


def integer(
    body: dict[str, Any],
    name: str,
    default: int | None = None,
    *,
    minimum: int = INT64_MIN,
    label: str | None = None,
) -> int | None:
    """An integer field, which MLflow may send as a string (int64 in protobuf JSON)."""
    where = label or name
    value = body.get(name, default)
    if value is None:
        return None
    try:
        if isinstance(value, bool | list | dict) or (
            isinstance(value, float) and not value.is_integer()
        ):
            raise TypeError
        number = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise invalid(where, value, "an integer") from exc
    if not minimum <= number <= INT64_MAX:
        raise invalid(where, value, f"an integer from {minimum} to {INT64_MAX}")
    return number


def items(body: dict[str, Any], name: str, *, label: str | None = None) -> list[Any]:
    """A list field; absent or null is an empty list (protobuf JSON's default)."""
    where = label or name
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(where, value, "a list")
    return value


def strings(body: dict[str, Any], name: str, *, label: str | None = None) -> list[str]:
    """A list of strings."""
    where = label or name
    found = items(body, name, label=where)
    for i, item in enumerate(found):
        if not isinstance(item, str):
            raise invalid(f"{where}[{i}]", item, "a string")
    return found


def objects(body: dict[str, Any], name: str, *, label: str | None = None) -> list[dict[str, Any]]:
    """A list of JSON objects, such as MLflow's datasets or logged-model outputs."""
    where = label or name
    found = items(body, name, label=where)
    for i, item in enumerate(found):
        if not isinstance(item, dict):
            raise invalid(f"{where}[{i}]", item, "an object")
    return found


def obj(body: dict[str, Any], name: str, *, label: str | None = None) -> dict[str, Any]:
    """A required JSON object field."""
    where = label or name
    value = body.get(name)
    if value is None:
        raise missing(where)
    if not isinstance(value, dict):
        raise invalid(where, value, "an object")
    return value


def pairs(body: dict[str, Any], name: str, *, label: str | None = None) -> list[tuple[str, str]]:
    """A list of ``{"key", "value"}`` objects (tags, params) as pairs."""
    where = label or name
    found = []
    for i, item in enumerate(objects(body, name, label=where)):
        if item.get("key") is None:
            raise missing(f"{where}[{i}].key")
        key = text(item, "key", label=f"{where}[{i}].key") or ""
        found.append((key, value_text(item, "value", label=f"{where}[{i}].value")))
    return found


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
