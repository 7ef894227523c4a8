"""Request body limits, enforced before a handler reads the body."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mloop.core.errors import PayloadTooLargeError
from mloop.core.http import Route, Surface, surface_owning


def _too_large_body(limit: int) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "code": "PAYLOAD_TOO_LARGE",
                "message": f"request body exceeds the limit of {limit} bytes; "
                "split the batch or raise MLOOP_MAX_REQUEST_BYTES",
                "field": "body",
            }
        }
    )


class BodyLimitMiddleware:
    """Answers 413 for bodies over the limit, by Content-Length or by counting."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_artifact_bytes: int,
        large_body_routes: Iterable[Route] = (),
        surfaces: Iterable[Surface] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_artifact_bytes = max_artifact_bytes
        # A dialect's paths (MLflow's) get the 413 in its own error shape.
        self._surfaces = [s for s in surfaces if s.prefixes]
        # Streamed uploads go to disk and have their own, larger limit; matched by the
        # fixed part of their path.
        self._large = tuple(
            sorted({(r.method, r.path.split("{", 1)[0]) for r in large_body_routes})
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("method", ""), scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    surface = surface_owning(self._surfaces, scope.get("path", ""))
                    if surface is None:
                        await self._reject(send, limit)
                    else:
                        too_large = PayloadTooLargeError(
                            f"request body exceeds the limit of {limit} bytes", field="body"
                        )
                        await surface.error(too_large)(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(
                        f"request body exceeds the limit of {limit} bytes", field="body"
                    )
            return message

        await self.app(scope, limited_receive, send)

    def _limit(self, method: str, path: str) -> int:
        for large_method, prefix in self._large:
            if method == large_method and path.startswith(prefix):
                return self.max_artifact_bytes
        return self.max_bytes

    async def _reject(self, send: Send, limit: int) -> None:
        body = _too_large_body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
