"""Experiment tracking: experiments, runs, params, metrics, tags, inputs and artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "artifacts": "mloop.tracking.artifacts",
    "experiments": "mloop.tracking.experiments",
    "ingest": "mloop.tracking.ingest",
    "runs": "mloop.tracking.runs",
    "operations": "mloop.tracking.ops",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.tracking import artifacts, experiments, ingest, runs
    from mloop.tracking.ops import operations
