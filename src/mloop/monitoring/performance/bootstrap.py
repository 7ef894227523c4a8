"""Bootstrap resampling as weight matrices, so every metric is computed for all resamples at once.

A resample of ``n`` rows drawn with replacement is a row of counts (how many times each row
was drawn); ``B`` resamples are a ``(B, n)`` matrix ``W``. Every metric here is a ratio of
weighted sums (``W @ indicator``), so one matrix product gives the metric for every
resample, and the point estimate is the same code with ``W`` a single row of ones. The
matrices come in blocks of about two million cells, so memory stays flat whatever ``B`` and
``n`` are.

Intervals are percentile intervals: the central ``confidence`` share of the resampled
values. Resamples where a metric is undefined (no positives drawn) are left out of its
interval. With ``strata`` (a group code per row) each group is resampled within itself, so
every resample keeps each group's size: that is the stratified bootstrap the bias audits use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from mloop.core.errors import ValidationError

# Cells of one block of weights (float64: 16 MiB); larger blocks buy little speed.
BLOCK_CELLS = 2**21


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How to bootstrap confidence intervals: resamples, confidence level and seed.

    The same seed gives the same intervals for the same data.
    """

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int | None = 0

    def __post_init__(self) -> None:
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int):
            raise ValidationError(
                "bootstrap n_resamples must be an integer", field="bootstrap.n_resamples"
            )
        if self.n_resamples < 2:
            raise ValidationError(
                f"bootstrap n_resamples must be at least 2, got {self.n_resamples}",
                field="bootstrap.n_resamples",
            )
        if not 0.0 < self.confidence < 1.0:
            raise ValidationError(
                f"bootstrap confidence must be between 0 and 1 (e.g. 0.95), got {self.confidence}",
                field="bootstrap.confidence",
            )


def point_weights(n_rows: int) -> np.ndarray:
    """The weights of the data itself: one row of ones."""
    return np.ones((1, n_rows))


def resample_weights(
    n_rows: int, bootstrap: Bootstrap, strata: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Blocks of ``(b, n_rows)`` resample counts, ``bootstrap.n_resamples`` rows in all."""
    rng = np.random.default_rng(bootstrap.seed)
    members = _strata_members(strata) if strata is not None else None
    per_block = max(1, BLOCK_CELLS // max(n_rows, 1))
    for start in range(0, bootstrap.n_resamples, per_block):
        rows = min(per_block, bootstrap.n_resamples - start)
        if members is None:
            drawn = rng.integers(0, n_rows, size=(rows, n_rows))
        else:
            drawn = np.concatenate(
                [group[rng.integers(0, len(group), size=(rows, len(group)))] for group in members],
                axis=1,
            )
        offsets = (np.arange(rows, dtype=np.int64) * n_rows)[:, None]
        counts = np.bincount((drawn + offsets).ravel(), minlength=rows * n_rows)
        yield counts.reshape(rows, n_rows).astype(np.float64)


def _strata_members(strata: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(strata, kind="stable")
    _, starts = np.unique(strata[order], return_index=True)
    return np.split(order, starts[1:])


def resampled(
    compute: Callable[[np.ndarray], dict[str, np.ndarray]],
    n_rows: int,
    bootstrap: Bootstrap,
    strata: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``compute(W)`` for every block of resample weights, each value concatenated over blocks.

    ``compute`` maps a weight matrix to named arrays whose first axis is the resample.
    """
    parts: dict[str, list[np.ndarray]] = {}
    for weights in resample_weights(n_rows, bootstrap, strata):
        for name, values in compute(weights).items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(chunks, axis=0) for name, chunks in parts.items()}
