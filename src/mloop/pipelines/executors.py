"""The executor interface and choosing one by name.

An executor runs step attempts (:class:`~mloop.pipelines.worker.Task`) somewhere and hands
back their outcomes; the driver (:mod:`mloop.pipelines.driver`) decides what runs when. An
executor must kill an attempt that runs past its ``timeout_s`` and report it failed.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.pipelines.worker import Outcome, Task


class Executor(abc.ABC):
    """Runs tasks in parallel; ``name`` is what a pipeline run records."""

    name: str = "custom"

    @abc.abstractmethod
    def start(self) -> None:
        """Get ready (start or attach to workers)."""

    @abc.abstractmethod
    def submit(self, task: Task) -> None:
        """Start ``task`` as soon as a worker is free."""

    @abc.abstractmethod
    def wait(self, timeout_s: float | None) -> list[Outcome]:
        """Outcomes of tasks that ended (at least one unless ``timeout_s`` passed first);
        a task past its timeout is killed and comes back failed."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Stop the workers this executor started."""

    @property
    def slots(self) -> int:
        """How many tasks run at once (the driver keeps this many submitted)."""
        return 1


def timeout_message(task: Task) -> str:
    return f"step {task.node!r} ran past its timeout of {task.timeout_s:g} s and was killed"


def resolve_executor(executor: str | Executor, workers: int | None = None) -> Executor:
    """``"local"``, ``"ray"`` or an :class:`Executor` instance."""
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        from mloop.pipelines.local import LocalExecutor

        return LocalExecutor(workers=workers)
    if executor == "ray":
        from mloop.pipelines.ray_executor import RayExecutor

        return RayExecutor(workers=workers)
    raise ValidationError(
        f"executor must be 'local', 'ray' or an Executor, not {executor!r}", field="executor"
    )
