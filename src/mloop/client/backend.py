"""How the SDK reaches the stores: embedded (in-process) or remote (HTTP).

Both implement :class:`Backend`. Every API call is an
:class:`~mloop.core.operations.Operation` through :meth:`Backend.call`, and every file transfer
a :class:`~mloop.core.files.FileRoute` through :meth:`Backend.upload` or
:meth:`Backend.download`, so each is declared once and both backends derive their behaviour
from the declaration. Background metric logging goes through :attr:`Backend.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from mloop.core.files import FileRoute
from mloop.core.operations import Operation

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class MetricQueue(Protocol):
    """How ``log_metric`` reaches the store: at once (embedded) or batched in the
    background with a disk spool (remote)."""

    def add(self, run_id: str, metrics: list[Any]) -> None:
        """Queue metrics for storage; :meth:`flush` waits until they are stored."""
        ...

    def flush(self) -> None:
        """Block until queued metrics are stored (or safely spooled to disk)."""
        ...

    def end_run(self, run_id: str, status: str, end_time: int | None) -> None:
        """Store the run's queued metrics and set its terminal status, atomically."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """The transport underneath :class:`mloop.Client`."""

    uri: str
    home: Path  # where client-side files live: the metric spool, the model cache

    @property
    def metrics(self) -> MetricQueue:
        """Where ``log_metric`` queues values."""
        ...

    def call(self, op: Operation[Req, Resp], request: Req) -> Resp:
        """Run one operation and return its response."""
        ...

    def upload(self, route: FileRoute, params: Mapping[str, Any], local_file: Path) -> Any:
        """Send ``local_file`` through an upload route; the route's response model."""
        ...

    def download(self, route: FileRoute, params: Mapping[str, Any], dest: Path) -> Path:
        """Copy the file a download route names to the file ``dest``; returns ``dest``."""
        ...

    def close(self) -> None: ...
