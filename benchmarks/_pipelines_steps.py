"""Steps and pipelines of benchmarks/pipelines.py, in their own module so that worker
processes and Ray workers import them by name (``_pipelines_steps:inc``)."""

from __future__ import annotations

from mloop.pipelines import pipeline, step


def work(x: int, salt: str) -> int:
    """A trivial step's own work (timed on its own to subtract it)."""
    return x + 1  # salt only makes each round's inputs (and cache keys) new


@step
def inc(x: int, salt: str) -> int:
    return work(x, salt)


@step
def total(values: list[int], salt: str) -> int:
    return sum(values)


@pipeline
def chain(steps: int = 100, salt: str = "") -> int:
    """``steps`` steps, each taking the previous one's output."""
    value = inc(0, salt)
    for _ in range(steps - 1):
        value = inc(value, salt)
    return value


@pipeline
def fan(steps: int = 100, salt: str = "") -> int:
    """``steps - 1`` independent steps and one that sums their outputs."""
    return total([inc(i, salt) for i in range(steps - 1)], salt)
