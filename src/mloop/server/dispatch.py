"""The one HTTP dispatcher: every surface's routes, matched exactly, run the same way.

On a small machine FastAPI's generic routing and dependency solving cost more than most
handlers, so routes with fixed paths are answered by an exact ``(method, path)`` lookup in
a thin ASGI layer in front of the app. Routes with path parameters go to FastAPI's router,
through the same :func:`respond`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mloop.core.http import QUICK_BODY_BYTES, AsyncHandler, Route, Surface, SyncHandler

log = logging.getLogger("mloop.server")


async def respond(route: Route, surface: Surface, request: Request) -> Response:
    """Run ``route`` for ``request``; any exception becomes the surface's error body."""
    try:
        if route.is_async:
            return await cast(AsyncHandler, route.handler)(request)
        handler = cast(SyncHandler, route.handler)
        body = await request.body() if request.method not in ("GET", "HEAD") else b""
        if route.quick and len(body) <= QUICK_BODY_BYTES:
            return handler(request, body)
        return await run_in_threadpool(handler, request, body)
    except Exception as exc:
        return surface.error(exc)


class Dispatcher:
    """ASGI middleware that answers the fixed paths of every surface and passes the rest on."""

    def __init__(self, app: ASGIApp, *, surfaces: Iterable[Surface]) -> None:
        self.app = app
        self._routes: dict[tuple[str, str], tuple[Route, Surface]] = {}
        self._surface_of_path: dict[str, Surface] = {}
        for surface in surfaces:
            for route in surface.routes:
                if route.templated:
                    continue
                key = (route.method, route.path)
                if key in self._routes:
                    raise RuntimeError(f"{route.method} {route.path} is declared twice")
                self._routes[key] = (route, surface)
                self._surface_of_path[route.path] = surface

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("//"):
            # A path that starts with repeated slashes names the same route, as Werkzeug
            # (MLflow's server) treats it: ``//model-versions/get-artifact`` is that route.
            # Only the leading ones: further in, ``.../files//etc/passwd`` carries an
            # absolute path that must reach the handler as it was sent, to be refused.
            scope = _merge_leading_slashes(scope)
        if scope["type"] != "http" or scope["path"] not in self._surface_of_path:
            await self.app(scope, receive, send)
            return
        found = self._routes.get((scope["method"], scope["path"]))
        if found is None:
            path = scope["path"]
            allowed = [method for method, p in self._routes if p == path]
            response = self._surface_of_path[path].method_not_allowed(allowed)
        else:
            route, surface = found
            response = await respond(route, surface, Request(scope, receive))
        await response(scope, receive, send)


def _merge_leading_slashes(scope: Scope) -> Scope:
    merged: Scope = {**scope, "path": "/" + scope["path"].lstrip("/")}
    raw = scope.get("raw_path")
    if raw is not None:
        merged["raw_path"] = b"/" + raw.lstrip(b"/")
    return merged


def templated_routes(surface: Surface) -> APIRouter:
    """The surface's routes with path parameters, for FastAPI's router."""
    router = APIRouter(include_in_schema=surface.documented)
    for route in surface.routes:
        if route.templated:
            router.add_api_route(
                route.path,
                _endpoint(route, surface),
                methods=[route.method],
                name=route.name or f"{surface.name}:{route.method}:{route.path}",
                summary=route.summary or None,
                tags=[route.tag] if route.tag else None,
            )
    return router


def _endpoint(route: Route, surface: Surface) -> Any:
    async def endpoint(request: Request) -> Response:
        return await respond(route, surface, request)

    return endpoint
