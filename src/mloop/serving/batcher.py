"""Adaptive micro-batching: requests for one model that arrive while it is busy are
predicted together.

A request is predicted at once when a prediction slot is free, so a lone request waits for
nothing; while ``max_in_flight`` batches run, new requests queue and the next batch takes up
to ``max_batch_rows`` of them. Under load batches grow by themselves, and with them
throughput, since one ``predict`` over 32 rows costs little more than over one.
``max_wait_s`` > 0 also holds a batch that is not full for up to that long after its first
request arrived. Predictions run in a thread pool, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Out = TypeVar("Out")


@dataclass
class _Item:
    data: Any
    rows: int
    future: asyncio.Future[Any]
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0
    largest: int = 0


class MicroBatcher(Generic[Out]):
    """Batches inputs for ``predict(inputs) -> [output per input]``, run in ``executor``.

    ``predict`` gets the queued inputs (each a DataFrame or array of ``rows`` rows) and
    returns one result per input, in order; an exception fails every request of the batch.
    """

    def __init__(
        self,
        predict: Callable[[Sequence[Any]], Sequence[Out]],
        executor: Executor,
        *,
        max_batch_rows: int = 64,
        max_wait_s: float = 0.0,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch_rows < 1 or max_in_flight < 1 or max_wait_s < 0:
            raise ValueError("max_batch_rows and max_in_flight must be >= 1, max_wait_s >= 0")
        self._predict = predict
        self._executor = executor
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self.max_in_flight = max_in_flight
        self.stats = BatchStats()
        self._pending: list[_Item] = []
        self._pending_rows = 0
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, data: Any, rows: int) -> Out:
        """Predict ``data`` (``rows`` rows) as part of the next batch."""
        loop = asyncio.get_running_loop()
        item = _Item(data, rows, loop.create_future())
        self._pending.append(item)
        self._pending_rows += rows
        self._dispatch(loop)
        return await item.future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._pending and self._in_flight < self.max_in_flight:
            if self._pending_rows < self.max_batch_rows and self.max_wait_s > 0:
                due = self._pending[0].arrived + self.max_wait_s
                if time.monotonic() < due:
                    if self._timer is None:
                        self._timer = loop.call_at(
                            loop.time() + (due - time.monotonic()), self._on_timer, loop
                        )
                    return
            self._launch(loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        # Expired: dispatch what is waiting regardless of size.
        while self._pending and self._in_flight < self.max_in_flight:
            self._launch(loop)

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch: list[_Item] = []
        rows = 0
        while self._pending and (not batch or rows + self._pending[0].rows <= self.max_batch_rows):
            item = self._pending.pop(0)
            batch.append(item)
            rows += item.rows
        self._pending_rows -= rows
        self._in_flight += 1
        task = loop.create_task(self._run(batch, rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Item], rows: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                self._executor, self._predict, [item.data for item in batch]
            )
            if len(results) != len(batch):
                raise RuntimeError(f"predict returned {len(results)} results for {len(batch)}")
        except Exception as exc:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        else:
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():  # the caller may have gone
                    item.future.set_result(result)
        finally:
            self.stats.batches += 1
            self.stats.rows += rows
            self.stats.largest = max(self.stats.largest, rows)
            self._in_flight -= 1
            self._dispatch(loop)
