"""The FastAPI application: the domains' surfaces, health, authentication, limits, the UI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute

from mloop import __version__
from mloop.auth.authenticator import Authenticator
from mloop.core.domain import load
from mloop.core.http import ServerParts, Surface
from mloop.domains import DOMAINS, all_file_routes, all_operations
from mloop.server.dispatch import Dispatcher, templated_routes
from mloop.server.errors import install_error_handlers
from mloop.server.files import file_routes
from mloop.server.limits import BodyLimitMiddleware
from mloop.server.routes import (
    documentation_routes,
    file_documentation_routes,
    operations_surface,
)
from mloop.store.migrate import current_revision, head_revision
from mloop.store.runtime import Runtime


def create_app(runtime: Runtime, *, auth_enabled: bool = False) -> FastAPI:
    """Build the server app over an opened runtime, from the domains' declarations."""
    auth = Authenticator(runtime, enabled=auth_enabled)
    parts = ServerParts(runtime=runtime, auth=auth)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for start in parts.on_start:
            await start()
        yield
        for close in parts.on_close:
            await close()

    app = FastAPI(
        lifespan=lifespan,
        title="mloop",
        version=__version__,
        description="Tracking, registry and the rest of the mloop loop over HTTP.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.state.auth = auth
    install_error_handlers(app)

    operations = all_operations()
    files_declared = all_file_routes()
    files = file_routes(files_declared, runtime, auth)
    surfaces = [operations_surface(operations, runtime, auth, extra=files)]
    for domain in DOMAINS:
        for factory in domain.http:
            for part in load(factory)(parts):
                if isinstance(part, Surface):
                    surfaces.append(part)
                else:
                    app.include_router(part)
    for name, value in parts.state.items():
        setattr(app.state, name, value)
    for surface in surfaces:
        app.include_router(templated_routes(surface))
    app.state.surfaces = surfaces
    _document_operations(
        app,
        lambda components: [
            *documentation_routes(operations, components),
            *file_documentation_routes(files_declared),
        ],
    )

    _api_docs_routes(app, auth, public=not auth_enabled or runtime.settings.public_api_docs)

    @app.get("/health", tags=["server"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["server"], summary="Readiness: database reachable and migrated")
    def ready() -> JSONResponse:
        try:
            runtime.db.ping()
            current, head = current_revision(runtime.db), head_revision(runtime.db)
        except Exception as exc:  # any database failure means "not ready"
            return JSONResponse(
                {"status": "unavailable", "reason": str(exc)[:200]}, status_code=503
            )
        if current != head:
            return JSONResponse(
                {"status": "unavailable", "reason": f"schema at {current}, expected {head}"},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "schema": current})

    from mloop.server.ui import mount_ui

    mount_ui(app, runtime, auth)
    app.add_middleware(Dispatcher, surfaces=surfaces)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=runtime.settings.max_request_bytes,
        max_artifact_bytes=runtime.settings.max_artifact_bytes,
        large_body_routes=[r for s in surfaces for r in s.routes if r.large_body],
        surfaces=surfaces,
    )
    return app


def _api_docs_routes(app: FastAPI, auth: Authenticator, *, public: bool) -> None:
    """``/api/openapi.json`` and ``/api/docs``; readers only when authentication is on,
    unless the documentation is made public."""

    def check(request: Request) -> None:
        if not public:
            auth.require(request, "reader")

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_document(request: Request) -> JSONResponse:
        check(request)
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        check(request)
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="mloop API")


def _document_operations(
    app: FastAPI, describe: Callable[[dict[str, Any]], list[APIRoute]]
) -> None:
    """Put the operations, and the nested schemas their bodies refer to, in OpenAPI.

    ``describe`` builds the routes that describe them (adding the nested schemas to the
    dictionary it is given) when the document is first asked for: their JSON schemas are
    most of an app's start-up time, and most apps (every test's, a scoring replica's) never
    serve the document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components: dict[str, Any] = {}
            routes = describe(components)
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*routes, *app.routes],
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in components.items():
                schemas.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
