"""Configuration from the environment, with embedded defaults that need no setup.

- ``MLOOP_HOME`` (``~/.mloop``): where the embedded store lives.
- ``MLOOP_DATABASE_URL`` (SQLite in ``MLOOP_HOME``): metadata database, or
  ``postgresql+psycopg://...``.
- ``MLOOP_ARTIFACT_ROOT`` (``MLOOP_HOME/artifacts``): a directory or ``s3://bucket/prefix``.
- ``MLOOP_S3_ENDPOINT_URL``: endpoint of an S3-compatible store.
- ``MLOOP_TRACKING_URI`` (unset: embedded): ``http://host:port`` of an mloop server.
- ``MLOOP_TOKEN``: bearer token the client sends to a server.
- ``MLOOP_ONLINE_STORE`` (a SQLite file ``MLOOP_HOME/online.db``): the feature store's
  online store: ``sqlite:///PATH`` or a file path, or ``redis://host:port/db`` for Redis.
- ``MLOOP_USER`` (the login name): who the embedded store records as the actor, and the name
  the client sends a server without authentication (``X-Mloop-User``); with a token, the
  token names the caller and this is not sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_ARTIFACT_BYTES = 5 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings` or directly in tests."""

    home: Path
    database_url: str
    artifact_root: str
    s3_endpoint_url: str | None = None
    tracking_uri: str | None = None
    token: str | None = None
    user: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    # With authentication on, the OpenAPI document and /api/docs need a token unless this is
    # set (MLOOP_PUBLIC_API_DOCS=true): the document lists every route an attacker could try.
    public_api_docs: bool = False
    # The feature store's online store (MLOOP_ONLINE_STORE); None: a SQLite file in home.
    online_store: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def online_store_url(self) -> str:
        """Where online feature values live: ``redis://...``, or a SQLite file."""
        return self.online_store or f"sqlite:///{self.home / 'online.db'}"

    @property
    def is_remote(self) -> bool:
        return bool(self.tracking_uri) and str(self.tracking_uri).startswith(
            ("http://", "https://")
        )

    @classmethod
    def for_home(cls, home: Path | str) -> Settings:
        """Embedded settings rooted at ``home`` (used by the demo and tests)."""
        home = Path(home).expanduser().resolve()
        return cls(
            home=home,
            database_url=f"sqlite:///{home / 'mloop.db'}",
            artifact_root=str(home / "artifacts"),
        )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer number of bytes, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _user_env() -> str | None:
    """``MLOOP_USER``: a name that can travel in an HTTP header (printable Latin-1, at most
    128 characters)."""
    raw = os.environ.get("MLOOP_USER", "").strip()
    if not raw:
        return None
    try:
        raw.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("MLOOP_USER must be Latin-1 text (it travels in an HTTP header)") from None
    if len(raw) > 128 or not raw.isprintable():
        raise ValueError("MLOOP_USER must be 1 to 128 printable characters")
    return raw


def _bool_env(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def get_settings() -> Settings:
    """Read settings from the environment (read anew on every call; cheap)."""
    home = Path(os.environ.get("MLOOP_HOME") or "~/.mloop").expanduser().resolve()
    return Settings(
        home=home,
        database_url=os.environ.get("MLOOP_DATABASE_URL") or f"sqlite:///{home / 'mloop.db'}",
        artifact_root=os.environ.get("MLOOP_ARTIFACT_ROOT") or str(home / "artifacts"),
        s3_endpoint_url=os.environ.get("MLOOP_S3_ENDPOINT_URL") or None,
        tracking_uri=os.environ.get("MLOOP_TRACKING_URI") or None,
        token=os.environ.get("MLOOP_TOKEN") or None,
        user=_user_env(),
        max_request_bytes=_int_env("MLOOP_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
        max_artifact_bytes=_int_env("MLOOP_MAX_ARTIFACT_BYTES", DEFAULT_MAX_ARTIFACT_BYTES),
        public_api_docs=_bool_env("MLOOP_PUBLIC_API_DOCS"),
        online_store=os.environ.get("MLOOP_ONLINE_STORE") or None,
    )
