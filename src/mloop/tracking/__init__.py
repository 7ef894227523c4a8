"""Experiment tracking: experiments, runs, params, metrics, tags, inputs and artifacts."""

from mloop.tracking import artifacts, experiments, ingest, runs
from mloop.tracking.ops import operations

__all__ = ["artifacts", "experiments", "ingest", "operations", "runs"]
