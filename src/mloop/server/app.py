"""The FastAPI application: domain routes, health, authentication, limits and the UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mloop import __version__
from mloop.server.domains import all_operations, extra_routers
from mloop.server.errors import install_error_handlers
from mloop.server.limits import BodyLimitMiddleware
from mloop.server.routes import OperationDispatcher, documentation_routes
from mloop.server.security import Authenticator
from mloop.store.migrate import current_revision, head_revision
from mloop.store.runtime import Runtime


def create_app(runtime: Runtime, *, auth_enabled: bool = False) -> FastAPI:
    """Build the server app over an opened runtime."""
    from mloop.llm.gateway.http import GatewayDispatcher, GatewayHandlers, gateway_router
    from mloop.llm.gateway.setup import GatewayHolder

    gateway = GatewayHolder(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="mloop",
        version=__version__,
        description="Tracking, registry and the rest of the mloop loop over HTTP.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    auth = Authenticator(runtime, enabled=auth_enabled)
    app.state.runtime = runtime
    app.state.auth = auth
    app.state.gateway = gateway
    install_error_handlers(app)
    operations = all_operations()
    components: dict[str, Any] = {}
    _document_operations(app, documentation_routes(operations, components), components)
    for router in extra_routers(runtime, auth.require):
        app.include_router(router)
    gateway_handlers = GatewayHandlers(gateway.get, auth)
    app.include_router(gateway_router(gateway_handlers))

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
    app.add_middleware(OperationDispatcher, operations=operations, runtime=runtime, auth=auth)
    app.add_middleware(GatewayDispatcher, handlers=gateway_handlers)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=runtime.settings.max_request_bytes,
        max_artifact_bytes=runtime.settings.max_artifact_bytes,
    )
    return app


def _document_operations(app: FastAPI, routes: list[APIRoute], components: dict[str, Any]) -> None:
    """Put the operations, and the nested schemas their bodies refer to, in OpenAPI."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
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
