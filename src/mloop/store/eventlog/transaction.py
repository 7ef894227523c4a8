"""Reading and writing an event log from inside an operation's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mloop.store.context import Context


class InTransaction:
    """The event log's runtime interface (``run`` and ``artifacts``) over an operation's
    own transaction: the log's index is read, and a segment's index row written, in it, so
    an operation that fails later stores nothing (a segment file without its index row is
    never read)."""

    def __init__(self, ctx: Context) -> None:
        self.artifacts = ctx.artifacts
        self._ctx = ctx

    def run(self, fn: Callable[[Context], Any], *, write: bool, actor: str | None = None) -> Any:
        return fn(self._ctx)
