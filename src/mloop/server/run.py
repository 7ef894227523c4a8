"""Starting the server process."""

from __future__ import annotations

import ipaddress
import os

from mloop.auth.tokens import count_active_tokens
from mloop.core.config import Settings
from mloop.core.errors import ValidationError
from mloop.store.runtime import open_runtime


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_required(host: str, auth: bool | None) -> bool:
    """Auth is on when asked for, via MLOOP_AUTH, or whenever the host is not loopback."""
    if auth is None:
        auth = os.environ.get("MLOOP_AUTH", "").lower() in ("1", "true", "yes")
    if not is_loopback(host) and not auth:
        raise ValidationError(
            f"refusing to listen on {host} without authentication: pass --auth (and create a "
            "token with `mloop tokens create NAME --role admin`), or bind 127.0.0.1",
            field="host",
        )
    return auth


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 5000, auth: bool | None = None
) -> None:
    """Run the server until interrupted."""
    import uvicorn

    from mloop.server.app import create_app

    enabled = auth_required(host, auth)
    runtime = open_runtime(settings)
    if enabled and runtime.run(count_active_tokens, write=False) == 0:
        raise ValidationError(
            "authentication is on but no token exists: create one with "
            "`mloop tokens create NAME --role admin` first",
            field="auth",
        )
    app = create_app(runtime, auth_enabled=enabled)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
