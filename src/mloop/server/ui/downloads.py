"""Files sent from the UI as downloads, never as pages.

A download is an attachment of type ``application/octet-stream`` with its own sandboxing
Content-Security-Policy, so an HTML or SVG file can never run as a page of this server.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from fastapi.responses import StreamingResponse

CHUNK = 256 * 1024


def stream(handle: IO[bytes]) -> Iterator[bytes]:
    """The handle's bytes in chunks; the handle is closed when the response ends."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def disposition(path: str) -> str:
    """``attachment`` with the file's name: ASCII in ``filename`` (headers are Latin-1, so
    other characters become ``_``), the exact name in ``filename*``."""
    name = posixpath.basename(path) or "file"
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return f"attachment; filename=\"{plain[:100]}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment(handle: IO[bytes], path: str) -> StreamingResponse:
    """The open file ``handle`` (named by ``path``) as a download."""
    headers = {
        "Content-Disposition": disposition(path),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    }
    return StreamingResponse(stream(handle), media_type="application/octet-stream", headers=headers)
