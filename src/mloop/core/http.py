"""HTTP surfaces: routes that share one error shape, served by the server's one dispatcher.

mloop answers three HTTP dialects: its own API, MLflow's REST API and OpenAI's. Each is a
:class:`Surface`: its routes, how it writes an error, and how it refuses a wrong method. The
server's dispatcher (``mloop.server.dispatch``) does the rest the same way for all of them:
exact-match routing, 405 with ``Allow``, running small requests on the event loop and larger
ones in a worker thread, and turning exceptions into the surface's error body.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mloop.core.errors import PayloadTooLargeError
from mloop.core.roles import Role

# A request with a body larger than this goes to a worker thread even when its route is
# quick, so that a big batch cannot hold up the event loop.
QUICK_BODY_BYTES = 64 * 1024

SyncHandler = Callable[[Request, bytes], Response]
AsyncHandler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """One method and path.

    A synchronous ``handler(request, body)`` gets the body read for it; it runs on the event
    loop when ``quick`` and the body is small (a few indexed rows: a thread hand-off would
    cost more than the work), else in a worker thread. An ``is_async`` handler gets only the
    request and reads what it needs. A path with ``{parameters}`` is routed by FastAPI's
    router instead of the exact-match table; the handler finds them in
    ``request.path_params``.
    """

    method: str
    path: str
    handler: SyncHandler | AsyncHandler
    # The role the handler requires (it checks it itself; declared here so that the role
    # matrix can be tested from the declarations). None: anyone, as for a health check.
    role: Role | None
    name: str = ""
    quick: bool = False
    is_async: bool = False
    # A streamed upload: the body may be as large as the artifact limit.
    large_body: bool = False
    summary: str = ""
    tag: str = ""

    @property
    def templated(self) -> bool:
        return "{" in self.path


@dataclass
class Surface:
    """Routes that share an error shape."""

    name: str
    routes: list[Route]
    error: Callable[[BaseException], Response]
    method_not_allowed: Callable[[list[str]], Response]
    # Whether routes with path parameters appear in the OpenAPI document.
    documented: bool = False
    # Path prefixes this surface owns even where no route matches: their 404s, 405s, 413s
    # and validation errors are written in its error shape too, since a client of that
    # dialect parses every answer under its paths (MLflow's reads ``error_code``).
    prefixes: tuple[str, ...] = ()
    # The 404 body for an unknown path under ``prefixes``.
    not_found: Callable[[str], Response] | None = None

    def owns(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.prefixes)


def surface_owning(surfaces: list[Surface], path: str) -> Surface | None:
    """The surface whose ``prefixes`` hold ``path``, if any."""
    return next((s for s in surfaces if s.owns(path)), None)


@dataclass
class ServerParts:
    """What a domain's HTTP factory gets from the server.

    ``auth`` is the server's :class:`~mloop.auth.authenticator.Authenticator`; ``state``
    entries become attributes of ``app.state``; ``on_start`` coroutines run when the server
    starts serving (background workers start there, not when an app is merely built) and
    ``on_close`` ones at shutdown.
    """

    runtime: Any
    auth: Any
    state: dict[str, Any] = field(default_factory=dict)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def receive_upload(request: Request, limit: int, too_large: str | None = None) -> Path:
    """Stream a request body into a temporary file (the caller deletes it), up to ``limit``.

    ``too_large`` is the 413 message (``{limit}`` is filled in).
    """
    fd, name = tempfile.mkstemp(prefix="mloop-upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as tmp:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    message = (too_large or "artifact exceeds the limit of {limit} bytes").format(
                        limit=limit
                    )
                    raise PayloadTooLargeError(message, field="body")
                tmp.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
