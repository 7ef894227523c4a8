"""The worker: checks due triggers and runs queued jobs with a lease it keeps renewed.

Several workers (threads, processes, machines) may run against one database: the claim and
the trigger checks are settled by the database (see :mod:`mloop.automation.jobs` and
:mod:`mloop.automation.schedules`). While a handler runs, a heartbeat thread renews the
job's lease every third of its length; a worker that dies stops renewing, and once the lease
runs out another worker takes the job back (recorded as a retry).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mloop.automation.jobs import claim_job, finish_job, renew_lease
from mloop.automation.kinds import JOB_KINDS
from mloop.automation.schedules import check_trigger, due_triggers
from mloop.automation.schemas import Job, TriggerEvent
from mloop.core.domain import load
from mloop.core.timeutil import now_ms
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger(__name__)

MAX_JOBS_PER_ROUND = 1000  # run_once stops here even if jobs keep coming


def default_worker_id() -> str:
    """``host:pid:random``: unique per worker, readable in the attempts table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class JobContext:
    """What a handler gets: the job, the runtime, and a way to ask to be called again."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    worker_id: str
    runtime: Runtime
    trigger: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    lost: threading.Event = field(default_factory=threading.Event)
    _again_after_s: float | None = None

    def again(self, after_s: float, state: dict[str, Any] | None = None) -> None:
        """Ask to be called again after ``after_s`` seconds (waiting on a rollout or an
        approval) instead of finishing; ``state`` is kept for the next call as
        :attr:`state`. The call does not count as an attempt."""
        if not 0 <= after_s <= 86_400:
            raise ValueError("after_s must be 0 to 86400 seconds")
        self._again_after_s = after_s
        if state is not None:
            self.state = state

    @property
    def again_after_s(self) -> float | None:
        return self._again_after_s

    @property
    def lease_lost(self) -> bool:
        """Whether the worker lost the job (its lease ran out, or it was cancelled): a long
        handler may check this and stop early; its result would not be recorded."""
        return self.lost.is_set()


class _Heartbeat:
    """Renews one job's lease until stopped; sets ``job.lost`` when the lease is gone."""

    def __init__(self, worker: Worker, job: Job, context: JobContext) -> None:
        self.worker = worker
        self.job = job
        self.context = context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{job.id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        w, job = self.worker, self.job
        while not self._stop.wait(w.lease_s / 3):
            try:
                held = w.runtime.run(
                    lambda ctx: renew_lease(
                        ctx, job.id, w.worker_id, _claim(job), lease_ms=w.lease_ms, now=w.clock()
                    ),
                    write=True,
                    actor=w.worker_id,
                )
            except Exception:
                log.exception("job %s: renewing the lease failed; trying again", job.id)
                continue
            if not held:
                log.warning("job %s: the lease is gone (expired or cancelled)", job.id)
                self.context.lost.set()
                return


def _claim(job: Job) -> int:
    """The claim number the worker holds: the job as claimed carries it."""
    return job.claims


def _check(ctx: Context, *, name: str, version: int, now: int) -> list[TriggerEvent]:
    return check_trigger(ctx, name, version, now)


class Worker:
    """Runs due trigger checks and queued jobs.

    ``run_once()`` checks the due triggers, then runs jobs until none is due (or
    :data:`MAX_JOBS_PER_ROUND`), returning how many ran; ``run(stop)`` repeats that, waiting
    ``poll_s`` when there was nothing to do, until ``stop`` is set.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        worker_id: str | None = None,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
        triggers: bool = True,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if not 1 <= lease_s <= 86_400:
            raise ValueError("lease_s must be 1 to 86400 seconds")
        if not 0 < poll_s <= 3600:
            raise ValueError("poll_s must be more than 0 and at most 3600 seconds")
        self.runtime = runtime
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.triggers = triggers
        self.clock = clock

    @property
    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)

    def check_triggers(self) -> int:
        """Check every due trigger, each in its own transaction; the events they left."""
        now = self.clock()
        due = self.runtime.run(lambda ctx: due_triggers(ctx, now), write=False)
        events = 0
        for name, version in due:
            try:
                found = self.runtime.run(
                    functools.partial(_check, name=name, version=version, now=now),
                    write=True,
                    actor=self.worker_id,
                )
            except Exception:
                log.exception("trigger %s: the check failed", name)
                continue
            events += len(found)
        return events

    def claim(self) -> Job | None:
        return self.runtime.run(
            lambda ctx: claim_job(ctx, self.worker_id, lease_ms=self.lease_ms, now=self.clock()),
            write=True,
            actor=self.worker_id,
        )

    def run_job(self, job: Job) -> bool:
        """Run a claimed job's handler and record how it ended; whether it was recorded
        (False: the worker lost the job meanwhile)."""
        context = JobContext(
            id=job.id,
            kind=job.kind,
            payload=job.payload,
            attempt=job.attempts,
            worker_id=self.worker_id,
            runtime=self.runtime,
            trigger=job.trigger,
            state=dict(job.state),
        )
        result: Any = None
        error: str | None = None
        with _Heartbeat(self, job, context):
            try:
                handler = load(JOB_KINDS[job.kind])
                result = handler(context)
            except Exception as exc:
                error = "".join(traceback.format_exception_only(exc)).strip()
                log.warning(
                    "job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, error
                )
        if error is not None:
            outcome = "failed"
        elif context.again_after_s is not None:
            outcome = "again"
        else:
            outcome = "succeeded"
        return self.runtime.run(
            lambda ctx: finish_job(
                ctx,
                job.id,
                self.worker_id,
                _claim(job),
                outcome,  # type: ignore[arg-type]
                result=result,
                error=error,
                again_after_ms=int((context.again_after_s or 0) * 1000),
                state=context.state,
                now=self.clock(),
            ),
            write=True,
            actor=self.worker_id,
        )

    def run_once(self) -> int:
        """Check due triggers, then run jobs until none is due; how many jobs ran."""
        if self.triggers:
            self.check_triggers()
        done = 0
        while done < MAX_JOBS_PER_ROUND:
            job = self.claim()
            if job is None:
                break
            self.run_job(job)
            done += 1
        return done

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; a round that fails (the database is down) is logged and
        the next one runs after ``poll_s``."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except Exception:
                log.exception("worker %s: a round failed", self.worker_id)
                done = 0
            if not done:
                stop.wait(self.poll_s)
