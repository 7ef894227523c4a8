"""The demo's progress: a Rich progress bar per step, on stderr."""

from __future__ import annotations

from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mloop.cli._output import err_console
from mloop.cli.demo._context import DemoContext
from mloop.cli.demo._run import run_demo


class ProgressReporter:
    """Shows each demo step as a Rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def begin(self, title: str, total: int) -> None:
        self._finish_current()
        self._task = self._progress.add_task(title, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def _finish_current(self) -> None:
        for task in self._progress.tasks:
            if task.id == self._task:
                self._progress.update(task.id, completed=task.total)

    def close(self) -> None:
        self._finish_current()


def run_with_progress(home: Path) -> DemoContext:
    """Run every step in ``home``, drawing their progress."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
    )
    reporter = ProgressReporter(progress)
    with progress:
        ctx = run_demo(home, reporter)
        reporter.close()
    return ctx
