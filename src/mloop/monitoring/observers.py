"""What else a window's single pass feeds besides drift, quality and outcomes: the call
statistics of a gateway monitor, the contract checks of a monitor with a contract.

An observer sees every batch of the window once, as it streams past, and gives its
figures at the end: a section of the window's report and the metrics alert rules read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


class WindowObserver(Protocol):
    section: str
    """The report section the observer's figures go in (``gateway``, ``contract``)."""

    def add(self, batch: pa.RecordBatch) -> None:
        """Take one batch of the window's rows."""

    def finish(self) -> tuple[dict[str, Any], dict[str, float | None]]:
        """The report section and the metrics, once every batch was added."""

    def close(self) -> None:
        """Release what the observer holds (a spool file), finished or not."""
