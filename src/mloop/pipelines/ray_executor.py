"""The Ray executor: each step attempt is a Ray task.

With ``RAY_ADDRESS`` set (or ``address=``) it attaches to that cluster, whose workers must
be able to import the pipeline's code; otherwise it starts a local Ray instance for the run
(or uses the one this process already started) with the driver's import path. A task past
its timeout is cancelled with ``force=True``, which kills the worker process running it.
Ray is the optional extra ``mloop[ray]``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from mloop.core.errors import ValidationError
from mloop.pipelines.executors import Executor, timeout_message
from mloop.pipelines.worker import Outcome, Task, now_ms, run_task


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError(
            "the Ray executor needs Ray: pip install 'mloop[ray]'", field="executor"
        ) from None
    return ray


class RayExecutor(Executor):
    """Runs steps as Ray tasks, ``workers`` CPUs' worth at a time (default: the cluster's)."""

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 100_000
        ):
            raise ValidationError(
                "workers must be a whole number from 1 to 100000", field="workers"
            )
        self.workers = workers
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._started_here = False
        self._remote: Any = None
        self._running: dict[Any, tuple[Task, float | None]] = {}

    @property
    def slots(self) -> int:
        return self.workers or 1024

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": "warning",
                "log_to_driver": False,
            }
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
            ray.init(**kwargs)
            self._started_here = True
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def submit(self, task: Task) -> None:
        ref = self._remote.remote(task)
        # Ray reports no start signal cheaply, so the timeout counts from submission.
        deadline = time.monotonic() + task.timeout_s if task.timeout_s else None
        self._running[ref] = (task, deadline)

    def wait(self, timeout_s: float | None) -> list[Outcome]:
        ray = _ray()
        if not self._running:
            return []
        refs = list(self._running)
        deadlines = [d for _, d in self._running.values() if d is not None]
        now = time.monotonic()
        limits = [d - now for d in deadlines] + ([timeout_s] if timeout_s is not None else [])
        wait_s = max(0.0, min(limits)) if limits else None
        ready, _ = ray.wait(refs, num_returns=1, timeout=wait_s)
        if ready:  # collect every other finished task too
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done: list[Outcome] = []
        for ref in ready:
            task, _ = self._running.pop(ref)
            try:
                done.append(ray.get(ref))
            except Exception as exc:  # the worker died, or the output could not travel
                done.append(
                    Outcome(
                        task.node,
                        task.attempt,
                        False,
                        error=f"Ray task failed: {exc}",
                        end_ms=now_ms(),
                    )
                )
        now = time.monotonic()
        for ref, (task, deadline) in list(self._running.items()):
            if deadline is not None and now >= deadline:
                ray.cancel(ref, force=True)
                del self._running[ref]
                done.append(
                    Outcome(
                        task.node, task.attempt, False, error=timeout_message(task), end_ms=now_ms()
                    )
                )
        return done

    def shutdown(self) -> None:
        ray = _ray()
        for ref in list(self._running):
            ray.cancel(ref, force=True)
        self._running.clear()
        if self._started_here:
            ray.shutdown()
            self._started_here = False
            self._remote = None
