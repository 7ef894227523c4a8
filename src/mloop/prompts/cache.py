"""A small cache of fetched prompt versions, shared by the SDK and the server's resolver.

A numbered reference (``name:3``) names an immutable version, so it is kept until the cache
is full; a label or a bare name can move, so it is kept for ``ttl`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from mloop.prompts.checks import PromptRef

K = TypeVar("K")
V = TypeVar("V")


class VersionCache(Generic[K, V]):
    """Thread-safe, least-recently-used, with a time to live for movable references."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get_or_fetch(self, key: K, ref: PromptRef, ttl: float, fetch: Callable[[], V]) -> V:
        """The cached value for ``key``, or ``fetch()`` (outside the lock) stored under it."""
        now = time.monotonic()
        if ttl > 0:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None and (ref.version is not None or hit[0] > now):
                    self._items.move_to_end(key)
                    return hit[1]
        value = fetch()
        with self._lock:
            self._items[key] = (now + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
