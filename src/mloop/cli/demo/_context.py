"""What the demo's steps share: the context they run in, and the step type itself.

A step is a :class:`DemoStep`: a name, a progress title, a function that takes the
:class:`DemoContext` and adds to it, and optionally a function that prints its part of the
summary. What several steps use (the store, the training data, the runs, the summary notes)
is a field of the context; what only one step needs later is kept with :meth:`DemoContext.keep`
under a type of that step's own, so a new step never needs a new field here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from rich.console import Console

    from mloop.store.runtime import Runtime

T = TypeVar("T")


class Reporter(Protocol):
    """Where steps report progress (a Rich progress bar in the CLI, nothing in tests)."""

    def begin(self, title: str, total: int) -> None:
        """A step starts that will take ``total`` units of work."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units are done."""


class SilentReporter:
    """A reporter that reports nothing."""

    def begin(self, title: str, total: int) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the scenario; the defaults finish in a few seconds."""

    experiment: str = "demo-breast-cancer"
    model_name: str = "demo-classifier"
    seed: int = 42
    sgd_epochs: int = 30
    gb_stages: int = 100
    rf_sizes: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 35, 40)
    logreg_cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


@dataclass
class Dataset:
    """The train/validation split every model uses."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    y_train: np.ndarray
    y_val: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    digest: str


@dataclass
class TrainedRun:
    """One finished training run."""

    run_id: str
    run_name: str
    family: str
    val_auc: float
    val_accuracy: float
    val_loss: float


@dataclass(frozen=True)
class DemoStep:
    """A named step of the scenario.

    ``title`` labels the step's progress bar; it may name :class:`DemoConfig` fields in
    braces (``"Registering {model_name}"``). ``summarise`` prints the step's part of the
    summary, in step order, after the header and before the notes.
    """

    name: str
    title: str
    run: Callable[[DemoContext], None]
    summarise: Callable[[DemoContext, Console], None] | None = None


@dataclass
class DemoContext:
    """What the steps share and build up while the demo runs."""

    home: Path  # the demo's fresh store
    config: DemoConfig = field(default_factory=DemoConfig)
    reporter: Reporter = field(default_factory=SilentReporter)
    steps: tuple[DemoStep, ...] = ()  # what runs, in order
    data: Dataset | None = None  # the training split (data step)
    dataset_ref: str = ""  # the registered training data, "name/version" (data step)
    runs: list[TrainedRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines for the end of the summary
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, by name
    seconds: float = 0.0  # the whole demo
    current: DemoStep | None = None  # the step that is running
    _kept: dict[type, object] = field(default_factory=dict, repr=False)

    def dataset(self) -> Dataset:
        if self.data is None:
            raise RuntimeError("the data step has not run")
        return self.data

    def ranked(self) -> list[TrainedRun]:
        """Runs, best first: highest validation AUC, then lowest validation loss."""
        return sorted(self.runs, key=lambda r: (-r.val_auc, r.val_loss))

    def begin(self, total: int) -> None:
        """Start the running step's progress bar, of ``total`` units."""
        if self.current is None:
            raise RuntimeError("no step is running")
        title = self.current.title.format_map(dataclasses.asdict(self.config))
        self.reporter.begin(title, total)

    def advance(self, amount: int = 1) -> None:
        self.reporter.advance(amount)

    def keep(self, value: object) -> None:
        """Keep a step's result for its summary, under the value's type."""
        self._kept[type(value)] = value

    def kept(self, kind: type[T]) -> T | None:
        """What a step kept with :meth:`keep` under ``kind``, or None if it did not run."""
        value = self._kept.get(kind)
        return value if isinstance(value, kind) else None

    def open_store(self) -> Runtime:
        """A runtime on the demo's store, for steps that serve it over HTTP; close it after."""
        from mloop.core.config import Settings
        from mloop.store.runtime import open_runtime

        return open_runtime(Settings.for_home(self.home))
