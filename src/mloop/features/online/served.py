"""The online store as a server process holds it: one open store and one reader per
(online store, metadata database), whose definitions follow the registry.

Operation handlers run with a transaction's context; endpoints' feature lookups run
outside any. :class:`OperationClient` calls the registry's operations in-process either
way (with the context of the handler running on this thread, or in a read transaction of
a runtime), so the catalog reads the registry without HTTP and without a second engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import func, select

from mloop.core.config import get_settings
from mloop.features import tables as t
from mloop.features.catalog import Catalog
from mloop.features.online.reads import CachedReader
from mloop.features.online.store import OnlineStore, open_online_store
from mloop.store.context import Context

T = TypeVar("T")


class OperationClient:
    """Runs operations by name in this process (see the module docstring)."""

    def __init__(self, runtime: Any = None) -> None:
        self.runtime = runtime
        self._local = threading.local()

    @contextmanager
    def using(self, ctx: Context) -> Iterator[None]:
        """Run calls on this thread with ``ctx`` (inside an operation's handler)."""
        previous = getattr(self._local, "ctx", None)
        self._local.ctx = ctx
        try:
            yield
        finally:
            self._local.ctx = previous

    def run(self, fn: Callable[[Context], T]) -> T:
        ctx = getattr(self._local, "ctx", None)
        if ctx is not None:
            return fn(ctx)
        if self.runtime is None:
            raise RuntimeError("no transaction to read the registry in")
        result: T = self.runtime.run(fn, write=False)
        return result

    def call(self, operation: str, /, **fields: Any) -> Any:
        from mloop.domains import find_operation

        op = find_operation(operation)
        request = op.request(**fields)
        return self.run(lambda ctx: op.handler(ctx, request))


def registry_generation(ctx: Context) -> tuple[Any, ...]:
    """Changes whenever a definition is applied or removed."""
    o = t.feature_objects
    query = select(
        func.count(), func.max(o.c.last_update_time), func.sum(o.c.latest_version)
    ).select_from(o)
    return tuple(ctx.conn.execute(query).one())


class Served:
    """A process's store and reader for one online store and metadata database."""

    def __init__(self, store: OnlineStore, client: OperationClient) -> None:
        from mloop.features.repo import use_repo_from_env

        use_repo_from_env()  # on-demand features' code, from MLOOP_FEATURE_REPO
        self.store = store
        self.client = client
        self.reader = CachedReader(
            store,
            load=lambda: Catalog.from_registry(client),
            generation=lambda: client.run(registry_generation),
        )


_lock = threading.Lock()
_served: dict[tuple[str, Any], Served] = {}
_urls: dict[tuple[str | None, str | None], str] = {}


def _online_url() -> str:
    # Read per request: environment lookups are cheap, resolving the home path is not.
    raw = (os.environ.get("MLOOP_ONLINE_STORE"), os.environ.get("MLOOP_HOME"))
    url = _urls.get(raw)
    if url is None:
        url = _urls[raw] = get_settings().online_store_url
    return url


def served_for_context(ctx: Context) -> Served:
    """The store and reader for an operation's handler: the online store of this
    process's settings, beside the database ``ctx`` reads."""
    key = (_online_url(), ctx.conn.engine)  # an engine per metadata database
    found = _served.get(key)
    if found is None:
        with _lock:
            found = _served.get(key)
            if found is None:
                found = _served[key] = Served(open_online_store(key[0]), OperationClient())
    return found


def served_for_runtime(runtime: Any) -> Served:
    """The store and reader for code outside operations (an endpoint's lookups)."""
    return Served(open_online_store(runtime.settings.online_store_url), OperationClient(runtime))
