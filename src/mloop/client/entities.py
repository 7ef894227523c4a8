"""Small value types for the SDK, shaped like MLflow's so code ports easily."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric value. Argument order follows MLflow: key, value, timestamp, step."""

    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str
