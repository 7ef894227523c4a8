"""HTTP plumbing the HTTP adapters share: the pooled client, SSE reading, Retry-After,
transport errors, and keeping keys out of messages.

The adapters use aiohttp rather than httpx: on this path (the gateway's call to a provider) it
costs about a third as much per request, and the gateway's own overhead is the product's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from yarl import URL

from mloop.llm.errors import ProviderError

# Provider error text is quoted in our messages, cut to this length.
MAX_QUOTED_CHARS = 500
# A Retry-After beyond this is taken as "much later" and capped, so a wrong header cannot
# park a route for hours.
MAX_RETRY_AFTER_SECONDS = 3600.0


class HttpPool:
    """One pooled HTTP/1.1 session per provider. The session is made in the event loop that
    first uses it (aiohttp binds a session to its loop) and made again if a later call runs
    in another loop; timeouts are given per request.

    The proxy for ``base_url`` comes from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``) when the session is made, as the provider SDKs read it when
    their client is made. aiohttp's ``trust_env`` would read it (and ``~/.netrc``) again on
    every request, in two trips through a worker thread: most of the gateway's overhead.
    """

    def __init__(self, *, max_connections: int, headers: Mapping[str, str], base_url: str) -> None:
        self._max_connections = max_connections
        self._headers = dict(headers)
        self._base_url = base_url
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy_headers: dict[str, str] | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            if session is not None and not session.closed:
                session.detach()  # its connections belong to a loop that is gone
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=30.0, enable_cleanup_closed=False
            )
            proxy, self._proxy_headers = env_proxy(self._base_url)
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None),
                proxy=proxy,
                auto_decompress=True,
            )
            self._session, self._loop = session, loop
        return session

    def post(self, url: str, *, headers: Mapping[str, str], **kwargs: Any) -> Any:
        """``session().post(...)`` (use it with ``async with``), with the proxy's
        credentials, which aiohttp takes per request only."""
        session = self.session()
        auth = self._proxy_headers
        if auth is None:
            return session.post(url, headers=headers, **kwargs)
        if url.startswith("https://"):
            # aiohttp sends proxy_headers on the CONNECT that opens the tunnel.
            return session.post(url, headers=headers, proxy_headers=auth, **kwargs)
        # A plain-HTTP request goes to the proxy itself, which reads (and drops) the header.
        return session.post(url, headers={**headers, **auth}, **kwargs)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            with contextlib.suppress(RuntimeError):  # closed from another loop
                await session.close()


def env_proxy(base_url: str) -> tuple[URL | None, dict[str, str] | None]:
    """The proxy the environment sets for ``base_url`` (without credentials) and the
    ``Proxy-Authorization`` header for the credentials its URL held; ``(None, None)`` when
    there is no proxy or ``NO_PROXY`` exempts the host."""
    url = URL(base_url)
    if url.host is None or urllib.request.proxy_bypass(url.host):
        return None, None
    proxies = urllib.request.getproxies()
    raw = proxies.get(url.scheme) or proxies.get("all")
    if not raw:
        return None, None
    proxy = URL(raw if "://" in raw else f"http://{raw}")
    if proxy.scheme not in ("http", "https"):
        return None, None  # aiohttp speaks to HTTP proxies only; SOCKS is not followed
    if proxy.user is None:
        return proxy, None
    credentials = f"{proxy.user}:{proxy.password or ''}".encode()
    header = "Basic " + base64.b64encode(credentials).decode("ascii")
    return proxy.with_user(None), {"Proxy-Authorization": header}


def stream_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """A stream's timeout: the connection and each read, not the whole answer."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``retry-after`` (seconds or an
    HTTP date), or None when neither is usable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return min(value, MAX_RETRY_AFTER_SECONDS)
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = when.timestamp() - time.time()
        value = max(value, 0.0)
    if value < 0 or value != value:  # negative or NaN
        return None
    return min(value, MAX_RETRY_AFTER_SECONDS)


def scrub(text: str, secret: str | None) -> str:
    """``text`` cut to a readable length, with ``secret`` (the key) masked if it appears."""
    if secret and len(secret) >= 4 and secret in text:
        text = text.replace(secret, "***")
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + "…"
    return text


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)
"""What a call to a provider raises when no usable HTTP answer arrived."""


def transport_error(exc: Exception, *, provider: str, model: str, timeout: float) -> ProviderError:
    """A ProviderError for an exception raised before an HTTP status was seen."""
    if isinstance(exc, TimeoutError):
        return ProviderError(
            "timeout",
            f"no answer within {timeout:g} s ({type(exc).__name__})",
            provider=provider,
            model=model,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProviderError(
            "connection", f"could not connect ({_reason(exc)})", provider=provider, model=model
        )
    # ServerDisconnectedError, ClientPayloadError, ClientOSError ...: the connection broke.
    return ProviderError(
        "connection",
        f"the connection failed ({type(exc).__name__}: {_reason(exc)})",
        provider=provider,
        model=model,
    )


def _reason(exc: Exception) -> str:
    # aiohttp messages name the host and the OS error, never headers, so they carry no key.
    return str(exc)[:MAX_QUOTED_CHARS] or type(exc).__name__


class SseEvent:
    """One server-sent event: its ``event`` name (None when absent) and ``data`` text."""

    __slots__ = ("data", "event")

    def __init__(self, event: str | None, data: str) -> None:
        self.event = event
        self.data = data


async def iter_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """The events of an SSE body, as they arrive."""
    event: str | None = None
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SseEvent(event, "\n".join(data))


def json_error_fields(body: Any) -> tuple[str, str, str]:
    """(message, type, code) of an ``{"error": {...}}`` body, empty strings where absent."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error, "", ""
    if not isinstance(error, dict):
        return "", "", ""
    return (
        str(error.get("message") or ""),
        str(error.get("type") or ""),
        str(error.get("code") or ""),
    )
