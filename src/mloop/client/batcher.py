"""Background metric batching for the remote client, with a disk spool.

``log_metric`` only queues. A worker thread sends queued metrics in batches; each batch
carries a ``batch_id`` so the server stores it once even when it is sent twice. When the
server cannot be reached, batches are written to a spool directory (one JSON file each,
written then renamed) and replayed once the server answers again, by this process or
the next one that talks to the same server. A metric is never dropped silently.

The end of a run (its status and end time) can be spooled too, as a batch of its last
metrics; spool files are replayed in the order they were written, so the replay stores a
run's metrics before it finishes the run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from mloop.core.errors import (
    ConflictError,
    MloopError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from mloop.core.ids import new_id
from mloop.tracking.schemas import MetricIn

log = logging.getLogger("mloop.client")

# Errors that mean "this batch will never be accepted"; anything else is retried later.
_REFUSALS = (ConflictError, NotFoundError, PayloadTooLargeError, ValidationError)


class SendFn(Protocol):
    """Sends one batch; ``end_status``/``end_time`` also end the run, in the same request."""

    def __call__(
        self,
        run_id: str,
        metrics: list[MetricIn],
        batch_id: str,
        end_status: str | None = None,
        end_time: int | None = None,
    ) -> None: ...


MAX_BATCH = 10_000
FLUSH_INTERVAL_S = 0.2
RETRY_INTERVAL_S = 1.0


class MetricBatcher:
    """Queues metrics per run and sends them from one worker thread."""

    def __init__(self, send: SendFn, spool_dir: Path) -> None:
        self._send = send
        self.spool_dir = spool_dir
        self._pending: dict[str, list[MetricIn]] = {}
        self._count = 0
        self._in_flight = 0
        self._cond = threading.Condition()
        # One replay at a time, so that the worker's and flush()'s replays neither send a
        # batch twice nor race for the same file. Re-entrant, so that a replay started
        # from inside a send (a callback that flushes) goes on instead of deadlocking.
        self._replay_lock = threading.RLock()
        # Spool file names start with a time that only grows here, so that sorting them
        # gives the order they were written in even when the clock is coarse or steps back.
        self._stamp_lock = threading.Lock()
        self._last_stamp = 0
        self._closed = False
        self._offline_since: float | None = None
        self._thread: threading.Thread | None = None
        self._replay_on_start = self.spool_dir.is_dir() and any(self.spool_dir.glob("*.json"))
        # Whether this process may have batches on disk; saves a directory scan per call.
        self._maybe_spooled = self._replay_on_start
        if self._replay_on_start:
            self._ensure_thread()

    # -- public -------------------------------------------------------------------------

    def add(self, run_id: str, metrics: list[MetricIn]) -> None:
        with self._cond:
            if self._closed:
                raise MloopError("the client is closed; metrics can no longer be logged")
            self._pending.setdefault(run_id, []).extend(metrics)
            self._count += len(metrics)
            if self._count >= MAX_BATCH:
                self._cond.notify_all()
        self._ensure_thread()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is sent or spooled; retry the spool once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._count or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining if remaining is not None else 0.5)
        self._replay_spool()
        if self.spooled_batches():
            log.warning(
                "mloop server unreachable: %d metric batches are kept in %s and will be sent "
                "when it answers again",
                len(self.spooled_batches()),
                self.spool_dir,
            )

    def drain(self, run_id: str) -> list[MetricIn]:
        """Take the run's queued metrics out of the queue (the caller sends them itself),
        after batches already on their way have arrived."""
        with self._cond:
            taken = self._pending.pop(run_id, [])
            self._count -= len(taken)
            while self._in_flight:
                self._cond.wait(0.5)
        if self._offline_since is None and self._maybe_spooled:
            self._replay_spool()
        return taken

    def spool(
        self,
        run_id: str,
        metrics: list[MetricIn],
        end_status: str | None = None,
        end_time: int | None = None,
    ) -> Path:
        """Keep metrics (and, with ``end_status``, the end of the run) on disk for a later
        replay, after every batch spooled before; returns the file."""
        end = {"end_status": end_status, "end_time": end_time} if end_status else {}
        return self._spool(run_id, metrics, new_id(), end=end)

    def replay(self) -> None:
        """Send what the spool holds now, in order, stopping at the first failure."""
        self._replay_spool()

    def spooled_batches(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(self.spool_dir.glob("*.json"))

    def close(self) -> None:
        self.flush(timeout=30)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- worker -------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._cond:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="mloop-metric-batcher", daemon=True
                    )
                    self._thread.start()

    def _take(self) -> list[tuple[str, list[MetricIn]]]:
        taken = []
        budget = MAX_BATCH
        for run_id in list(self._pending):
            items = self._pending[run_id]
            chunk, rest = items[:budget], items[budget:]
            taken.append((run_id, chunk))
            budget -= len(chunk)
            if rest:
                self._pending[run_id] = rest
            else:
                del self._pending[run_id]
            if budget <= 0:
                break
        sent = sum(len(c) for _, c in taken)
        self._count -= sent
        self._in_flight += sent
        return taken

    def _run(self) -> None:
        if self._replay_on_start:
            self._replay_spool()
        while True:
            with self._cond:
                if not self._count and not self._closed:
                    self._cond.wait(FLUSH_INTERVAL_S)
                if self._closed and not self._count:
                    return
                batches = self._take()
            for run_id, metrics in batches:
                self._deliver(run_id, metrics, new_id())
            with self._cond:
                self._in_flight -= sum(len(m) for _, m in batches)
                self._cond.notify_all()
            if batches and self._offline_since is None and self._maybe_spooled:
                self._replay_spool()

    def _deliver(self, run_id: str, metrics: list[MetricIn], batch_id: str) -> None:
        if (
            self._offline_since is not None
            and time.monotonic() - self._offline_since < RETRY_INTERVAL_S
        ):
            self._spool(run_id, metrics, batch_id)
            return
        try:
            self._send(run_id, metrics, batch_id)
            self._offline_since = None
        except _REFUSALS as exc:
            # The server refused the batch (a bad key, a deleted run): keep it for inspection.
            log.error("mloop server refused %d metrics for run %s: %s", len(metrics), run_id, exc)
            self._spool(run_id, metrics, batch_id, folder="rejected")
        except MloopError:
            self._offline_since = time.monotonic()
            self._spool(run_id, metrics, batch_id)

    def _spool(
        self,
        run_id: str,
        metrics: list[MetricIn],
        batch_id: str,
        folder: str = "",
        end: dict[str, Any] | None = None,
    ) -> Path:
        target_dir = self.spool_dir / folder if folder else self.spool_dir
        target_dir.mkdir(parents=True, exist_ok=True)
        body = {
            "run_id": run_id,
            "batch_id": batch_id,
            "metrics": [m.model_dump(mode="json") for m in metrics],
            **(end or {}),
        }
        with self._stamp_lock:
            self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
            name = f"{self._last_stamp}-{batch_id}.json"
        tmp = target_dir / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target_dir / name)
        if not folder:
            self._maybe_spooled = True
        return target_dir / name

    def _replay_spool(self) -> None:
        with self._replay_lock:
            self._replay_files()

    def _replay_files(self) -> None:
        pending = self.spooled_batches()
        if not pending:
            self._maybe_spooled = False
        for path in pending:
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                metrics = [MetricIn.model_validate(m) for m in body["metrics"]]
            except FileNotFoundError:
                continue  # sent and removed by a replay nested in a send (see _replay_lock)
            except (OSError, ValueError, KeyError):
                log.error("unreadable spool file %s left in place", path)
                continue
            try:
                self._send(
                    body["run_id"],
                    metrics,
                    body["batch_id"],
                    end_status=body.get("end_status"),
                    end_time=body.get("end_time"),
                )
            except _REFUSALS as exc:
                log.error("mloop server refused spooled batch %s: %s", path.name, exc)
                rejected = self.spool_dir / "rejected"
                rejected.mkdir(exist_ok=True)
                os.replace(path, rejected / path.name)
                continue
            except MloopError:
                self._offline_since = time.monotonic()
                return
            self._offline_since = None
            path.unlink(missing_ok=True)
