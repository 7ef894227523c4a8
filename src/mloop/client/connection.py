"""Choosing and caching the backend for a tracking URI."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import threading
from pathlib import Path

from mloop.client.backend import Backend
from mloop.core.config import Settings, get_settings
from mloop.core.errors import ValidationError

_lock = threading.Lock()
_backends: dict[str, Backend] = {}
_tracking_uri: str | None = None


def set_tracking_uri(uri: str | Path | None) -> None:
    """Use ``http(s)://host:port`` for a server, a directory for an embedded store, or None."""
    global _tracking_uri
    _tracking_uri = str(uri) if uri is not None else None


def get_tracking_uri() -> str:
    """The URI in effect: set_tracking_uri, else MLOOP_TRACKING_URI, else MLOOP_HOME."""
    # Called by every fluent SDK call, so it reads only what it needs.
    if _tracking_uri:
        return _tracking_uri
    return os.environ.get("MLOOP_TRACKING_URI") or str(_home(os.environ.get("MLOOP_HOME")))


@functools.lru_cache(maxsize=16)
def _home(raw: str | None) -> Path:
    return Path(raw or "~/.mloop").expanduser().resolve()


def _settings_for(uri: str) -> Settings:
    settings = get_settings()
    if uri.startswith(("http://", "https://")):
        return dataclasses.replace(settings, tracking_uri=uri)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        raise ValidationError(
            f"tracking URI {uri!r} is not understood: use http(s)://host:port or a directory",
            field="tracking_uri",
        )
    if Path(uri).expanduser().resolve() == settings.home:
        return settings
    return dataclasses.replace(Settings.for_home(uri), token=settings.token, user=settings.user)


def backend_for(uri: str | None = None) -> Backend:
    """The shared backend for ``uri`` (or the URI in effect), created on first use."""
    uri = uri or get_tracking_uri()
    with _lock:
        backend = _backends.get(uri)
        if backend is None:
            settings = _settings_for(uri)
            if settings.is_remote:
                from mloop.client.remote import RemoteBackend

                backend = RemoteBackend(uri, settings)
            else:
                from mloop.client.embedded import EmbeddedBackend

                backend = EmbeddedBackend(settings)
            _backends[uri] = backend
        return backend


def close_all() -> None:
    """Flush and close every backend (runs at interpreter exit)."""
    with _lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        backend.close()


atexit.register(close_all)
