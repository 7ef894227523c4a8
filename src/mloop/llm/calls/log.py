"""Recording gateway calls without making the caller wait for the database.

The gateway hands each finished call to :class:`CallLogWriter`, which queues it and inserts
queued calls in batches from one background thread: a call costs the request path a queue
put, and the database sees one transaction per batch instead of one per call. ``flush()``
waits until everything queued so far is stored (tests, shutdown).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from mloop.llm.calls.capture import redacted
from mloop.llm.calls.tables import llm_calls
from mloop.store.context import Context
from mloop.store.runtime import Runtime

_log = logging.getLogger(__name__)

_BATCH = 500
# A flush marker: the writer sets the event once every record queued before it is stored.
_Flush = threading.Event


@dataclass
class CallRecord:
    """One gateway call, as stored in ``llm_calls``."""

    id: str
    time: int
    endpoint: str
    requested_model: str
    status: str
    http_status: int
    latency_ms: float
    route: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    token_name: str = ""
    project: str = "default"
    error_code: str | None = None
    error_message: str | None = None
    stream: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_exact: str = "0"
    cache: str = "miss"
    saved_usd: float = 0.0
    ttft_ms: float | None = None
    retries: int = 0
    fallbacks: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    capture: str = "none"
    request: Any = None
    response: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict would deep-copy the captured content.
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["attempts_json"] = _json(row.pop("attempts"))
        row["guardrails_json"] = _json(row.pop("guardrails"))
        row["metadata_json"] = _json(row.pop("metadata"))
        request, response = row.pop("request"), row.pop("response")
        if self.capture == "redacted":
            request, response = redacted(request), redacted(response)
        elif self.capture == "none":
            request = response = None
        row["request_json"] = None if request is None else _json(request)
        row["response_json"] = None if response is None else _json(response)
        return row


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def insert_calls(ctx: Context, records: list[CallRecord]) -> None:
    """Store ``records`` in one statement (also used directly by tests and the demo)."""
    if records:
        ctx.conn.execute(llm_calls.insert(), [r.to_row() for r in records])


def _inserter(records: list[CallRecord]) -> Callable[[Context], None]:
    return lambda ctx: insert_calls(ctx, records)


class CallLogWriter:
    """Queues call records and stores them in batches from a daemon thread."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._queue: queue.SimpleQueue[CallRecord | _Flush | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="mloop-call-log", daemon=True)
        self._closed = False
        self.stored = 0
        self.failed = 0
        self._thread.start()
        # The thread is a daemon so it never holds a process open; what it still holds
        # at exit is stored first.
        atexit.register(self.close)

    def submit(self, record: CallRecord) -> None:
        if self._closed:
            raise RuntimeError("the call log writer is closed")
        self._queue.put(record)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every record submitted before this call is stored."""
        marker = threading.Event()
        self._queue.put(marker)
        if not marker.wait(timeout):
            raise TimeoutError(f"the call log did not flush within {timeout} s")

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[CallRecord] = []
            markers: list[threading.Event] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, CallRecord):
                    batch.append(item)
                else:
                    markers.append(item)
                if stop or len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._store(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _store(self, batch: list[CallRecord]) -> None:
        if not batch:
            return
        try:
            self._runtime.run(_inserter(batch), write=True, actor="gateway")
            self.stored += len(batch)
        except Exception:
            # One bad record must not lose the batch: store the rest one by one.
            for record in batch:
                try:
                    self._runtime.run(_inserter([record]), write=True, actor="gateway")
                    self.stored += 1
                except Exception:
                    self.failed += 1
                    _log.exception("could not store gateway call %s", record.id)
