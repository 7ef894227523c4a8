"""Who is calling: bearer tokens (or the UI's cookie) checked against the token table."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from starlette.requests import Request

from mloop.auth.tokens import verify_token
from mloop.core.errors import AuthenticationError, PermissionDeniedError
from mloop.core.roles import Role, role_allows
from mloop.store.runtime import Runtime

COOKIE_NAME = "mloop_token"
# Verified tokens are remembered briefly so each request does not hit the database;
# a revocation therefore takes effect within this many seconds.
_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role


class Authenticator:
    """Resolves a request to an :class:`Identity` and enforces roles."""

    def __init__(self, runtime: Runtime, *, enabled: bool) -> None:
        self.runtime = runtime
        self.enabled = enabled
        self._cache: dict[str, tuple[Identity, float]] = {}
        self._lock = threading.Lock()

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthenticationError(
                    "the Authorization header must be 'Bearer <token>'", field="Authorization"
                )
            return value.strip()
        return request.cookies.get(COOKIE_NAME)

    def verify(self, secret: str) -> Identity:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret)
            if hit is not None and hit[1] > now:
                return hit[0]
        name, role = self.runtime.run(lambda ctx: verify_token(ctx, secret), write=False)
        identity = Identity(name=name, role=role)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[secret] = (identity, now + _CACHE_SECONDS)
        return identity

    def identify(self, request: Request) -> Identity:
        if not self.enabled:
            user = request.headers.get("x-mloop-user", "").strip()[:128]
            return Identity(name=user or "anonymous", role="admin")
        secret = self._token(request)
        if not secret:
            raise AuthenticationError(
                "this server requires a token: send 'Authorization: Bearer <token>' "
                "(create one with `mloop tokens create`)",
                field="Authorization",
            )
        return self.verify(secret)

    def require_cached(self, request: Request, role: Role) -> Identity | None:
        """:meth:`require` without touching the database: None when the token has to be
        looked up (call :meth:`require` in a worker thread then). For hot async routes."""
        if self.enabled:
            secret = self._token(request)
            if not secret:
                return self.require(request, role)  # raises: no token
            with self._lock:
                hit = self._cache.get(secret)
            if hit is None or hit[1] <= time.monotonic():
                return None
        return self.require(request, role)

    def require(self, request: Request, role: Role) -> Identity:
        identity = self.identify(request)
        if not role_allows(identity.role, role):
            raise PermissionDeniedError(
                f"token {identity.name!r} has role {identity.role}; this needs {role}",
                field="Authorization",
            )
        return identity
