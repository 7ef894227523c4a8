"""Links to pages another domain owns and may not have (yet): the automation pages name the
link kinds of pipeline runs, gates, endpoints... by string, and a page must not fail because
another page is missing or changed its arguments."""

from __future__ import annotations

from typing import Any

from mloop.server.ui import links


def link_or_none(kind: str | None, **ids: Any) -> str | None:
    """The page of an object of ``kind``, or None where the UI has no such link kind or its
    link takes other arguments than ``ids``."""
    if kind is None or kind not in links.kinds():
        return None
    try:
        return links.link_to(kind, **ids)
    except TypeError:  # the link function's parameters differ from the ids given
        return None
