"""A lean keep-alive HTTP/1.1 transport for the JSON API.

Small API calls dominate SDK traffic, and a general-purpose client costs about a
millisecond per request on a small machine. This one keeps one socket per thread, writes
each request (head and body) with a single ``sendall`` and parses the answer with
``http.client.HTTPResponse``. File transfers use httpx.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mloop.core.errors import ServiceUnavailableError, ValidationError

# Errors that mean a kept-alive connection was closed by the server while idle.
_STALE = (
    http.client.RemoteDisconnected,
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
        host_header = self._host if parts.port is None else f"{self._host}:{parts.port}"
        fixed = {"Host": host_header, "Connection": "keep-alive", **headers}
        self._head_lines = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._timeout = timeout
        self._local = threading.local()

    def _socket(self) -> tuple[socket.socket, bool]:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            return sock, True
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._host)
        self._local.sock = sock
        return sock, False

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        if sock is not None:
            sock.close()
        self._local.sock = None

    def _encode(self, method: str, url: str, body: bytes | None) -> bytes:
        head = f"{method} {url} HTTP/1.1\r\n{self._head_lines}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode("latin-1") + (body or b"")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body). Unreachable servers raise 503-class errors."""
        url = quote(self._prefix + path, safe="/-_.~")
        if params:
            url += "?" + urlencode(params, doseq=True)
        payload = self._encode(method, url, body)
        for attempt in range(2):
            reused = False
            try:
                sock, reused = self._socket()
                sock.sendall(payload)
                response = http.client.HTTPResponse(sock, method=method)
                response.begin()
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
