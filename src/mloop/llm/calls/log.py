"""Recording gateway calls without making the caller wait for the database.

The gateway hands each finished call to :class:`CallLogWriter`, which queues it and inserts
queued calls in batches from one background thread: a call costs the request path a queue
put, and the database sees one transaction per batch instead of one per call. The writer
collects calls for up to ``linger`` seconds (0.1 by default) before it writes: a write per
call would hold the interpreter lock for ~0.25 ms after every request, right when the next
one arrives, while a batch costs each call a tenth of that. ``flush()`` waits until
everything queued so far is stored (tests, shutdown); a process killed outright loses at
most the calls of the last ``linger`` seconds.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
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
_LINGER_SECONDS = 0.1
# Rows per insert statement within a batch's transaction, and the pause between statements:
# turning ~10 records into rows holds the interpreter lock for ~0.3 ms, and the pause hands
# it to the event loop thread, so a large batch never stalls a request for long.
_CHUNK = 10
_YIELD_SECONDS = 0.0002
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
        row = {name: getattr(self, name) for name in _FIELD_NAMES}
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


_FIELD_NAMES = tuple(f.name for f in fields(CallRecord))


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def insert_calls(ctx: Context, records: list[CallRecord]) -> None:
    """Store ``records`` in one statement (also used directly by tests and the demo)."""
    if records:
        ctx.conn.execute(llm_calls.insert(), [r.to_row() for r in records])


def _inserter(records: list[CallRecord]) -> Callable[[Context], None]:
    def insert(ctx: Context) -> None:
        for start in range(0, len(records), _CHUNK):
            if start:
                time.sleep(_YIELD_SECONDS)
            insert_calls(ctx, records[start : start + _CHUNK])

    return insert


class CallLogWriter:
    """Queues call records and stores them in batches from a daemon thread, at most
    ``linger`` seconds after the first call of a batch arrived."""

    def __init__(self, runtime: Runtime, *, linger: float = _LINGER_SECONDS) -> None:
        if not 0 <= linger <= 10:
            raise ValueError(f"linger must be between 0 and 10 seconds, not {linger!r}")
        self._runtime = runtime
        self._linger = linger
        self._wake = threading.Event()  # set by flush and close: cut the linger short
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
        self._wake.set()
        if not marker.wait(timeout):
            raise TimeoutError(f"the call log did not flush within {timeout} s")

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._wake.set()
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def _loop(self) -> None:
        while True:
            batch, markers, stop = self._collect()
            self._store(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _collect(self) -> tuple[list[CallRecord], list[threading.Event], bool]:
        """The next batch: what is queued ``linger`` seconds after its first call arrived (at
        once for a flush or close), up to ``_BATCH`` calls."""
        item = self._queue.get()
        if isinstance(item, CallRecord):
            # Sleep, then take what came: waiting on the queue instead would wake this thread
            # (and take the interpreter lock from the request path) on every call.
            self._wake.wait(self._linger)
        self._wake.clear()
        batch: list[CallRecord] = []
        markers: list[threading.Event] = []
        while True:
            if item is None:
                return batch, markers, True
            if isinstance(item, CallRecord):
                batch.append(item)
            else:
                markers.append(item)
            if len(batch) >= _BATCH:
                return batch, markers, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, markers, False

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
