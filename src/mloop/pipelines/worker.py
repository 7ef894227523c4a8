"""What runs one step attempt inside a worker process (local or Ray).

The step is imported by reference, runs with the pipeline's tracking run as the active run
(so ``mloop.log_metric``, ``mloop.get_dataset`` and ``mloop.register_model`` inside it
attach to the pipeline run), with its printed output captured, and its output encoded when
the driver asked for it (to cache it, or to digest it for a downstream cache key).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.pipelines.values import Encoded, encode

if TYPE_CHECKING:
    from mloop.pipelines.decorators import Step
    from mloop.tracking.schemas import Run

LOG_TAIL_CHARS = 8_000
ERROR_CHARS = 8_000
ENV_PREFIXES = ("MLOOP_", "AWS_")


@dataclass
class Task:
    """One attempt of one node, as sent to a worker."""

    node: str
    step_ref: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    attempt: int
    tracking_uri: str
    run: Run | None
    encode: bool
    trusted: bool
    timeout_s: float | None = None
    sys_path: list[str] = field(default_factory=list)
    # The driver's MLOOP_* settings: a worker started earlier (a forkserver child, a Ray
    # worker) must reach the same database and artifact store as the driver.
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a worker sends back for a task."""

    node: str
    attempt: int
    ok: bool
    value: Any = None
    encoded: Encoded | None = None
    error: str = ""
    log_tail: str = ""
    start_ms: int = 0
    end_ms: int = 0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def load_step(ref: str) -> Step:
    """The step object at ``module:qualname``."""
    from mloop.pipelines.decorators import Step

    module_name, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Step):
        raise TypeError(f"{ref} is not a @step (found {type(obj).__name__})")
    return obj


class _Tail(io.TextIOBase):
    """A text sink keeping only the last ``limit`` characters written."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 4 * self._limit:
            self._parts = [self.getvalue()]
            self._size = len(self._parts[0])
        return len(text)

    def getvalue(self) -> str:
        return "".join(self._parts)[-self._limit :]


def driver_env() -> dict[str, str]:
    """The settings a worker copies from the driver."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}


def _apply_env(env: dict[str, str]) -> bool:
    """Make this process's settings the driver's; whether anything changed."""
    changed = False
    for key in [k for k in os.environ if k.startswith(ENV_PREFIXES) and k not in env]:
        del os.environ[key]
        changed = True
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
            changed = True
    return changed


@contextlib.contextmanager
def _active_run(task: Task) -> Any:
    """Make the pipeline's tracking run the active run for the step, without changing its
    status (``mloop.start_run(run_id=...)`` would mark it running and ``end_run`` finished).
    """
    if task.run is None:
        yield
        return
    from mloop.client import connection, fluent

    if _apply_env(task.env):
        connection.close_all()  # backends built from the old settings
    if connection.get_tracking_uri() != task.tracking_uri:
        connection.set_tracking_uri(task.tracking_uri)
    state = fluent._state  # the fluent API's per-thread run stack
    state.runs.append(fluent.ActiveRun(task.run))
    try:
        yield
    finally:
        state.runs.pop()
        # Metrics logged remotely are queued; the step is done only once they are stored.
        if connection._backends:
            fluent.flush()


def run_task(task: Task, on_start: Callable[[], None] | None = None) -> Outcome:
    """Run one attempt; never raises (the error travels back in the outcome).

    ``on_start`` is called once the step's module is imported, just before it runs: the
    local executor starts the step's timeout then, so a cold worker's imports do not count.
    """
    for entry in task.sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    start = now_ms()
    tail = _Tail(LOG_TAIL_CHARS)
    try:
        step = load_step(task.step_ref)
        if on_start is not None:
            on_start()
        with (
            contextlib.redirect_stdout(tail),
            contextlib.redirect_stderr(tail),
            _active_run(task),
        ):
            value = step.fn(*task.args, **task.kwargs)
        encoded = encode(value, trusted=task.trusted) if task.encode else None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the step's own error, SystemExit included
        text = "".join(traceback.format_exception(exc))[-ERROR_CHARS:]
        return Outcome(
            task.node,
            task.attempt,
            False,
            error=text,
            log_tail=tail.getvalue(),
            start_ms=start,
            end_ms=now_ms(),
        )
    return Outcome(
        task.node,
        task.attempt,
        True,
        value=value,
        encoded=encoded,
        log_tail=tail.getvalue(),
        start_ms=start,
        end_ms=now_ms(),
    )
