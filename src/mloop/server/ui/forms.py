"""Forms posted to the UI: where they came from and what they hold.

Pages that change something (sign-in, sign-out, a prompt review) accept forms from this
site only: the cookie is SameSite=Strict, and the Origin header is checked as well.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import Request


def same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def parse_form(body: bytes, max_fields: int = 10) -> dict[str, list[str]]:
    """An urlencoded form body, at most ``max_fields`` fields (bad bytes replaced)."""
    return parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=max_fields)


def field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    """The first value of ``name`` in ``form``, or ``default``."""
    return (form.get(name) or [default])[0]
