"""The local executor: a pool of worker processes on this machine.

Each worker is a process with a pipe to the driver. A task runs in one worker at a time;
a task past its timeout is ended by killing its worker process (SIGKILL: a step stuck in C
code or a sleep ends too), and a fresh worker takes the dead one's place. Workers start
with the ``forkserver`` method, so they never inherit the driver's threads or database
connections, and import the step's module on first use.

Modules named in ``preload`` (a scoring pipeline's model library, say) are imported once by
the forkserver, so every worker forked from it starts with them imported and shares their
memory; a worker also imports them itself before its first task, which costs nothing when
they came with the fork. The forkserver is one per process: the preload list that counts
there is the one set before it started (by the first executor of the process to start), and
workers of later executors with other lists import theirs each.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mloop.core.errors import ValidationError
from mloop.pipelines.executors import Executor, timeout_message
from mloop.pipelines.worker import Outcome, Task, now_ms, run_task

IMPORT_ALLOWANCE_S = 600.0


STARTED = "started"  # a worker's word that the step's code is loaded and about to run
WORKER_MODULE = "mloop.pipelines.worker"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _check_preload(preload: Sequence[str]) -> tuple[str, ...]:
    if isinstance(preload, str) or not isinstance(preload, Sequence):
        raise ValidationError("preload must be a list of module names", field="preload")
    names = tuple(preload)
    bad = [n for n in names if not isinstance(n, str) or not _MODULE_NAME.fullmatch(n)]
    if bad:
        raise ValidationError(f"preload: {bad[0]!r} is not a module name", field="preload")
    return names


def _import_preload(modules: Sequence[str]) -> None:
    """Import what the executor was asked to preload (already there when forked with it)."""
    for name in modules:
        # A module that fails here fails again, with its real error, in the step that
        # imports it; the worker itself must live to report that.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _serve(conn: multiprocessing.connection.Connection, preload: Sequence[str] = ()) -> None:
    """A worker's loop: run tasks until told to stop (None) or the driver goes away."""
    _import_preload(preload)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        outcome = run_task(task, on_start=lambda: conn.send(STARTED))
        try:
            conn.send(outcome)
        except Exception as exc:  # an output pickle cannot carry between processes
            conn.send(
                Outcome(
                    task.node,
                    task.attempt,
                    False,
                    error=f"the output of step {task.node!r} ({type(outcome.value).__name__}) "
                    f"cannot be sent between processes: {exc}",
                    log_tail=outcome.log_tail,
                    start_ms=outcome.start_ms,
                    end_ms=outcome.end_ms,
                )
            )


@dataclass
class _Worker:
    process: Any  # multiprocessing's Process of the chosen context
    conn: multiprocessing.connection.Connection
    task: Task | None = None
    deadline: float | None = None  # time.monotonic() past which the task is killed


class LocalExecutor(Executor):
    """Runs steps in up to ``workers`` processes (default: the machine's cores).

    ``preload``: modules the workers import before their first task (once, in the
    forkserver, when it starts with this executor). Workers are started when tasks need
    them and kept until :meth:`shutdown`, so an executor used for several runs keeps what
    its workers loaded (a batch scoring run's model, for one).
    """

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        start_method: str = "forkserver",
        preload: Sequence[str] = (),
    ) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024
        ):
            raise ValidationError("workers must be a whole number from 1 to 1024", field="workers")
        self.workers = workers or os.cpu_count() or 1
        self.preload = _check_preload(preload)
        self._context: Any = multiprocessing.get_context(start_method)
        self._pool: list[_Worker] = []
        self._queue: deque[Task] = deque()

    @property
    def slots(self) -> int:
        return self.workers

    def start(self) -> None:
        if self._context.get_start_method() == "forkserver":
            # Workers fork from a server that has imported these once. Started now, its
            # imports overlap the driver's own start (recording the run) instead of
            # delaying the first worker by all of them.
            self._context.set_forkserver_preload(
                list(dict.fromkeys([WORKER_MODULE, *self.preload]))
            )
            multiprocessing.forkserver.ensure_running()

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child, self.preload), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._pool.append(worker)
        return worker

    def _idle(self) -> _Worker | None:
        for worker in self._pool:
            if worker.task is None:
                return worker
        return self._spawn() if len(self._pool) < self.workers else None

    def _dispatch(self) -> list[Outcome]:
        failed: list[Outcome] = []
        while self._queue:
            worker = self._idle()
            if worker is None:
                break
            task = self._queue.popleft()
            start = now_ms()
            try:
                worker.conn.send(task)
            except Exception as exc:  # an argument pickle cannot carry
                failed.append(
                    Outcome(
                        task.node,
                        task.attempt,
                        False,
                        error=f"the inputs of step {task.node!r} cannot be sent to a worker "
                        f"process: {exc}",
                        start_ms=start,
                        end_ms=now_ms(),
                    )
                )
                continue
            worker.task = task
            # The timeout starts when the worker says the step runs (after its imports);
            # until then the import itself gets a generous allowance.
            worker.deadline = time.monotonic() + IMPORT_ALLOWANCE_S if task.timeout_s else None
        return failed

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and forget it (a new one starts when a task needs it)."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        self._pool.remove(worker)

    def wait(self, timeout_s: float | None) -> list[Outcome]:
        done = self._dispatch()
        if done:
            return done
        busy = [w for w in self._pool if w.task is not None]
        if not busy:
            return []
        limit = time.monotonic() + timeout_s if timeout_s is not None else None
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        if limit is not None:
            deadlines.append(limit)
        wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=wait_s)
        now = time.monotonic()
        for worker in busy:
            task = worker.task
            assert task is not None
            if worker.conn in ready:
                try:
                    outcome = worker.conn.recv()
                    if outcome == STARTED:
                        if task.timeout_s:
                            worker.deadline = time.monotonic() + task.timeout_s
                        if not worker.conn.poll():
                            continue
                        outcome = worker.conn.recv()
                except (EOFError, OSError):
                    code = worker.process.exitcode
                    self._replace(worker)
                    outcome = Outcome(
                        task.node,
                        task.attempt,
                        False,
                        error=f"the worker process running step {task.node!r} exited "
                        f"(exit code {code})",
                        end_ms=now_ms(),
                    )
                else:
                    worker.task = worker.deadline = None
                done.append(outcome)
            elif worker.deadline is not None and now >= worker.deadline:
                self._replace(worker)
                done.append(
                    Outcome(
                        task.node, task.attempt, False, error=timeout_message(task), end_ms=now_ms()
                    )
                )
        return done + self._dispatch()

    def shutdown(self) -> None:
        for worker in list(self._pool):
            if worker.task is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        deadline = time.monotonic() + 2
        for worker in list(self._pool):
            if worker.task is None:
                worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            self._replace(worker)
        self._queue.clear()
