"""Helpers of the automation tests: operations called as a named actor, a hand-moved clock,
and job handlers that record what ran."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pydantic

from mloop.automation.worker import JobContext
from mloop.core.validation import from_pydantic
from mloop.domains import find_operation
from mloop.store.runtime import Runtime

T0 = 1_800_000_000_000  # a fixed "now" (ms): tests move time by hand, never sleep on it


def call(runtime: Runtime, operation: str, /, actor: str = "ann", **fields: Any) -> Any:
    """Run ``operation`` as ``actor``, the way the server does (request checked first)."""
    op = find_operation(operation)
    try:
        request = op.request(**fields)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None
    return runtime.run(lambda ctx: op.handler(ctx, request), write=op.writes, actor=actor)


@dataclass
class Clock:
    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class Recorder:
    """What the test job kinds did: each run's job id and worker, and whether two runs of
    one job ever overlapped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: list[tuple[int, str]] = []
        self.running: set[int] = set()
        self.overlaps: list[int] = []


RECORDER = Recorder()


def record(job: JobContext) -> dict[str, Any]:
    """Kind ``test-record``: note the run (and any overlap with another run of the job)."""
    with RECORDER.lock:
        if job.id in RECORDER.running:
            RECORDER.overlaps.append(job.id)
        RECORDER.running.add(job.id)
        RECORDER.runs.append((job.id, job.worker_id))
    # Long enough that other workers are claiming while this one holds the job.
    threading.Event().wait(float(job.payload.get("hold_s", 0.0)))
    with RECORDER.lock:
        RECORDER.running.discard(job.id)
    return {"echo": job.payload.get("n")}


def fail(job: JobContext) -> None:
    """Kind ``test-fail``: always fails."""
    raise RuntimeError(f"boom on attempt {job.attempt}")


def wait_twice(job: JobContext) -> dict[str, Any]:
    """Kind ``test-again``: asks to be called again twice, counting calls in its state."""
    calls = int(job.state.get("calls", 0)) + 1
    if calls < 3:
        job.again(30, state={"calls": calls})
        return {}
    return {"calls": calls}


TEST_KINDS = {
    "test-record": "tests.automation.automation_testing:record",
    "test-fail": "tests.automation.automation_testing:fail",
    "test-again": "tests.automation.automation_testing:wait_twice",
}
