"""File routes: each streamed file transfer declared once.

Files do not fit an :class:`~mloop.core.operations.Operation` (their bodies are streamed, not
JSON), so they get their own small declaration. From one :class:`FileRoute` the server mounts
the HTTP route, the remote SDK builds the URL, the embedded SDK calls the function directly,
and the server's body limit gives uploads the larger artifact limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

from mloop.core.roles import Role

_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")

# upload(runtime, params, local_file, actor, max_bytes) -> response model
UploadFn = Callable[[Any, Mapping[str, str], Path, "str | None", int], Any]
# download(ctx, params) -> a readable binary handle, opened inside a read transaction
DownloadFn = Callable[[Any, Mapping[str, str]], BinaryIO]


@dataclass(frozen=True)
class FileRoute:
    """A streamed file transfer: an upload (PUT) or a download (GET) of one file.

    ``path`` is a template such as ``/api/v1/artifacts/files/{run_id}/{path:path}``; a
    ``:path`` parameter may contain slashes, any other is one URL segment. ``handler`` is an
    :data:`UploadFn` for uploads and a :data:`DownloadFn` for downloads.
    """

    name: str
    method: Literal["GET", "PUT"]
    path: str
    handler: Callable[..., Any]
    role: Role = "reader"
    summary: str = ""
    tag: str = ""
    # The model an upload answers with.
    response: type[Any] | None = None
    media_type: str = "application/octet-stream"
    # Checks run on the parameters before an upload's body is read.
    check: Callable[[Mapping[str, str]], None] | None = None
    # What a 413 says for this route (``{limit}`` is replaced by the limit in bytes).
    too_large: str = "artifact exceeds the limit of {limit} bytes"
    # The types of the path parameters (``mloop.core.fields``), for the OpenAPI document;
    # a parameter not named here is documented as a plain string.
    param_types: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_upload(self) -> bool:
        return self.method == "PUT"

    @property
    def params(self) -> tuple[str, ...]:
        """The parameter names in the path, in order."""
        return tuple(m.group(1) for m in _PARAM.finditer(self.path))

    @property
    def prefix(self) -> str:
        """The fixed part of the path before its first parameter."""
        return self.path.split("{", 1)[0]

    def url(self, params: Mapping[str, Any]) -> str:
        """The path with ``params`` filled in and quoted (slashes kept in ``:path`` ones)."""

        def fill(match: re.Match[str]) -> str:
            value = str(params[match.group(1)])
            return quote(value, safe="/" if match.group(2) else "")

        missing = [p for p in self.params if p not in params]
        if missing:
            raise KeyError(f"file route {self.name} needs {', '.join(missing)}")
        return _PARAM.sub(fill, self.path)
