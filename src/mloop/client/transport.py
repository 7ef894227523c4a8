"""A lean keep-alive HTTP/1.1 transport for the JSON API.

Small API calls dominate SDK traffic, and a general-purpose client costs about a
millisecond per request on a small machine; this one, on ``http.client`` with one
persistent connection per thread, costs about a third of that. File transfers use httpx.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from mloop.core.errors import ServiceUnavailableError, ValidationError

# Errors that mean a kept-alive connection was closed by the server while idle.
_STALE = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class JsonTransport:
    """Sends requests over one persistent connection per thread."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(f"not an http(s) URL: {base_url!r}", field="tracking_uri")
        self.base_url = base_url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Connection": "keep-alive", **headers}
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        klass = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = klass(self._host, self._port, timeout=self._timeout)
        conn.connect()
        # http.client writes headers and body separately; without TCP_NODELAY the body
        # waits for the peer's delayed ACK of the headers.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body). Unreachable servers raise 503-class errors."""
        url = self._prefix + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            reused = False
            try:
                conn, reused = self._connection()
                conn.request(method, url, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except _STALE as exc:
                self._drop()
                if reused and attempt == 0:
                    continue  # the idle connection had been closed; open a new one once
                raise self._unavailable(exc) from exc
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self._drop()
                raise self._unavailable(exc) from exc
            if response.will_close:
                self._drop()
            return response.status, data
        raise AssertionError("unreachable")

    def _unavailable(self, exc: BaseException) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"cannot reach the mloop server at {self.base_url}: {exc or type(exc).__name__}. "
            "Is `mloop server` running?"
        )

    def close(self) -> None:
        self._drop()
