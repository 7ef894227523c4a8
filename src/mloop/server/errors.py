"""Error responses: one JSON shape for every failure, naming the field at fault."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mloop.core.errors import MloopError, ValidationError
from mloop.core.http import Surface, surface_owning

log = logging.getLogger("mloop.server")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str:
    """Every method some route of the app takes at the request's path (Starlette's own 405
    names only the first route that matched the path). Each method is tried against the
    routes, since an included router matches as a whole and names no methods itself."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def _dialect(request: Request) -> Surface | None:
    """The surface (MLflow's, OpenAI's) whose paths the request is under, if any."""
    return surface_owning(getattr(request.app.state, "surfaces", []), request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MloopError)
    async def _mloop_error(request: Request, exc: MloopError) -> Response:
        surface = _dialect(request)
        if surface is not None:
            return surface.error(exc)
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field), status_code=exc.http_status
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _location(tuple(first.get("loc", ())))
        if first.get("type") == "json_invalid":
            message = "the request body is not valid JSON"
            field = "body"
        else:
            message = f"{field}: {first.get('msg', 'invalid value')}"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more problems)"
        surface = _dialect(request)
        if surface is not None:
            return surface.error(ValidationError(message, field=field))
        return JSONResponse(error_body("INVALID_PARAMETER_VALUE", message, field), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "ENDPOINT_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        headers = exc.headers
        if exc.status_code == 405:  # RFC 9110: say which methods the path takes
            headers = {**(headers or {}), "Allow": _allowed(request)}
        surface = _dialect(request)
        if surface is not None and exc.status_code == 405:
            return surface.method_not_allowed(_allowed(request).split(", "))
        if surface is not None and exc.status_code == 404 and surface.not_found is not None:
            return surface.not_found(request.url.path)
        # Outside the API (an unknown page, a mistyped link) a person reads the answer.
        ui = getattr(request.app.state, "ui", None)
        if ui is not None and ui.serves(request):
            page: Response = ui.handle_error(
                request, StarletteHTTPException(exc.status_code, exc.detail, headers)
            )
            return page
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        surface = _dialect(request)
        if surface is not None:
            return surface.error(exc)  # logs it, as below
        log.exception("unhandled error")
        return JSONResponse(
            error_body("INTERNAL_ERROR", f"internal error: {type(exc).__name__}"), status_code=500
        )
