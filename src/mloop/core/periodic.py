"""A task run every ``interval_s`` seconds in a daemon thread, until closed.

The rollout evaluators of endpoints and of gateway routes share this lifecycle; each
subclass says what one round does (:meth:`PeriodicTask.run_once`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("mloop")


class PeriodicTask:
    """Calls :meth:`run_once` every ``interval_s`` seconds once :meth:`start` is called.

    A round that raises is logged and the next one runs as planned: the usual cause is a
    database that is down for a while.
    """

    def __init__(self, *, interval_s: float, thread_name: str) -> None:
        if not 0 < interval_s <= 3600:
            raise ValueError("interval_s must be more than 0 and at most 3600")
        self.interval_s = interval_s
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._thread_name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("%s: a round failed; the next runs as planned", self._thread_name)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
