"""Declared file routes as routes of mloop's API surface: bodies streamed both ways."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mloop.auth.authenticator import Authenticator
from mloop.core.files import FileRoute
from mloop.core.http import AsyncHandler, Route, receive_upload
from mloop.store.artifacts import iter_chunks
from mloop.store.runtime import Runtime


def _upload(route: FileRoute, runtime: Runtime, auth: Authenticator) -> AsyncHandler:
    limit = runtime.settings.max_artifact_bytes

    async def upload(request: Request) -> Response:
        params = dict(request.path_params)
        identity = await run_in_threadpool(auth.require, request, route.role)
        if route.check is not None:
            route.check(params)
        tmp = await receive_upload(request, limit, route.too_large)
        try:
            stored = await run_in_threadpool(
                route.handler, runtime, params, tmp, identity.name, limit
            )
        finally:
            tmp.unlink(missing_ok=True)
        return Response(stored.model_dump_json(), media_type="application/json")

    return upload


def _download(route: FileRoute, runtime: Runtime, auth: Authenticator) -> AsyncHandler:
    async def download(request: Request) -> Response:
        params = dict(request.path_params)
        await run_in_threadpool(auth.require, request, route.role)
        handle = await run_in_threadpool(
            runtime.run, lambda ctx: route.handler(ctx, params), write=False
        )
        return StreamingResponse(iter_chunks(handle), media_type=route.media_type)

    return download


def file_routes(routes: Iterable[FileRoute], runtime: Runtime, auth: Authenticator) -> list[Route]:
    """One streamed route per declared file route."""
    return [
        Route(
            route.method,
            route.path,
            (_upload if route.is_upload else _download)(route, runtime, auth),
            route.role,
            name=route.name,
            is_async=True,
            large_body=route.is_upload,
            summary=route.summary,
            tag=route.tag,
        )
        for route in routes
    ]
