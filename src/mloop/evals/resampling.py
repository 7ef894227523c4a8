"""Bootstrap resamples drawn fast and in bounded memory: as row indices, or as row counts.

The draws are ``rng.integers(0, n, size=(rows, n))`` from ``default_rng(seed)`` in blocks
of :data:`DRAW_CELLS` draws, which fixes the stream: the same seed gives the same resamples
whatever the metric, built in or custom (and the same counts as mloop's gates before this
module, so stored decisions reproduce). A custom scorer takes the drawn indices
(:func:`resample_rows`). A built-in metric takes a resample as a row of counts (how many
times each unit was drawn) and computes every resample of a block at once
(:func:`resample_counts`); each draw block is counted and handed out in smaller blocks of
about :data:`COUNT_CELLS` counts, small enough that a metric's passes over them stay in
the CPU cache: at 100,000 units a block is one resample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mloop.core.errors import ValidationError

# Draws per block of the random stream (int64: 16 MiB). Changing it changes every resample.
DRAW_CELLS = 2**21
# Counts per block handed to the metrics (float64: 1 MiB); it only trades cache for calls.
COUNT_CELLS = 2**17


def resample_rows(n_units: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of ``(b, n_units)`` drawn unit indices, ``resamples`` rows in all."""
    _check(n_units, resamples)
    rng = np.random.default_rng(seed)
    draw_rows = max(1, DRAW_CELLS // n_units)
    for start in range(0, resamples, draw_rows):
        yield rng.integers(0, n_units, size=(min(draw_rows, resamples - start), n_units))


def resample_counts(n_units: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of ``(b, n_units)`` float64 resample counts, ``resamples`` rows in all: the
    draws of :func:`resample_rows` counted.

    Each row sums to ``n_units``. Consume a block before asking for the next: the blocks
    are fresh arrays, but holding every block at once holds ``resamples * n_units`` floats.
    """
    _check(n_units, resamples)  # before the block size divides by n_units
    count_rows = max(1, COUNT_CELLS // n_units)
    for drawn in resample_rows(n_units, resamples, seed):
        for first in range(0, len(drawn), count_rows):
            yield _counts(drawn[first : first + count_rows], n_units)


def _whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check(n_units: int, resamples: int) -> None:
    if not _whole(n_units) or n_units < 1:
        raise ValidationError(
            f"the bootstrap needs at least one row to resample, got {n_units!r}", field="n_units"
        )
    if not _whole(resamples) or resamples < 1:
        raise ValidationError(
            f"resamples must be a positive integer, got {resamples!r}", field="resamples"
        )


def _counts(drawn: np.ndarray, n_units: int) -> np.ndarray:
    """How often each unit was drawn, per row of ``drawn``: one ``bincount`` for the block,
    each row's draws shifted into its own range of bins."""
    rows = len(drawn)
    if rows == 1:
        return np.bincount(drawn[0], minlength=n_units).astype(np.float64)[None, :]
    shifted = drawn + (np.arange(rows, dtype=np.int64) * n_units)[:, None]
    counts = np.bincount(shifted.ravel(), minlength=rows * n_units)
    return counts.reshape(rows, n_units).astype(np.float64)
