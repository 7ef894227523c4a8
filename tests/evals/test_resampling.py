"""Resample counts: the documented draws, in any block size, and the paired bootstrap on them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mloop.evals.resampling as resampling
from mloop.core.errors import ValidationError
from mloop.evals.comparison import paired_bootstrap, paired_bootstrap_rows
from mloop.evals.metrics import Outputs, metric_function
from mloop.evals.names import parse_metric
from mloop.evals.resampling import resample_counts, resample_rows


def _reference(n: int, resamples: int, seed: int, draw_rows: int) -> np.ndarray:
    """The draws as documented: integers(0, n) in blocks of draw_rows rows, counted per row."""
    rng = np.random.default_rng(seed)
    rows = []
    for start in range(0, resamples, draw_rows):
        drawn = rng.integers(0, n, size=(min(draw_rows, resamples - start), n))
        rows += [np.bincount(row, minlength=n) for row in drawn]
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("count_cells", [10, 16, 35, 2**17])
def test_counts_are_the_documented_draws_whatever_the_count_block(
    monkeypatch: pytest.MonkeyPatch, count_cells: int
) -> None:
    monkeypatch.setattr(resampling, "DRAW_CELLS", 64)  # 6 resamples of 10 rows per draw block
    monkeypatch.setattr(resampling, "COUNT_CELLS", count_cells)
    blocks = list(resample_counts(10, 23, seed=5))
    assert all(b.dtype == np.float64 and b.shape[1] == 10 for b in blocks)
    assert max(len(b) for b in blocks) == min(6, max(1, count_cells // 10))
    counts = np.concatenate(blocks)
    np.testing.assert_array_equal(counts, _reference(10, 23, 5, draw_rows=6))
    assert (counts.sum(axis=1) == 10).all()


def test_default_blocks_keep_the_draws_of_earlier_gates() -> None:
    # 2**21 draws per block: at 100,000 rows 20 resamples; counted one resample at a time.
    blocks = list(resample_counts(100_000, 21, seed=0))
    assert [len(b) for b in blocks] == [1] * 21
    expected = _reference(100_000, 21, 0, draw_rows=20)
    np.testing.assert_array_equal(np.concatenate(blocks), expected)


def test_same_seed_same_counts_other_seed_other_counts() -> None:
    first = np.concatenate(list(resample_counts(30, 50, seed=9)))
    again = np.concatenate(list(resample_counts(30, 50, seed=9)))
    other = np.concatenate(list(resample_counts(30, 50, seed=10)))
    numpy_sizes = np.concatenate(list(resample_counts(np.int64(30), np.int32(50), seed=9)))  # type: ignore[arg-type]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, numpy_sizes)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("n_units", "resamples", "field"),
    [(0, 10, "n_units"), (True, 10, "n_units"), (5, 0, "resamples"), (5, 2.5, "resamples")],
)
def test_bad_sizes_are_refused_by_field(n_units: object, resamples: object, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        next(resample_counts(n_units, resamples, seed=0))  # type: ignore[arg-type]
    assert error.value.field == field


def test_paired_bootstrap_takes_the_interval_of_the_resampled_differences() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(40), rng.random(40)

    def mean(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda w: (w @ values) / w.sum(axis=1)

    result = paired_bootstrap(
        mean(a), mean(b), 40, higher_is_better=False, resamples=500, confidence=0.9, seed=4
    )
    counts = np.concatenate(list(resample_counts(40, 500, seed=4)))
    expected = -((counts @ a) / counts.sum(axis=1) - (counts @ b) / counts.sum(axis=1))
    np.testing.assert_array_equal(result.samples, expected)
    assert [result.low, result.high] == pytest.approx(np.quantile(expected, [0.05, 0.95]))
    assert result.difference == pytest.approx(b.mean() - a.mean())


def test_paired_bootstrap_refuses_a_confidence_outside_zero_to_one() -> None:
    def metric(w: np.ndarray) -> np.ndarray:
        return w.sum(axis=1)

    with pytest.raises(ValidationError) as error:
        paired_bootstrap(
            metric, metric, 10, higher_is_better=True, resamples=10, confidence=1.5, seed=0
        )
    assert error.value.field == "confidence"


def test_custom_scorers_resample_the_same_rows_as_built_in_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resampling, "DRAW_CELLS", 200)  # several draw blocks of 3 resamples
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 60)
    outputs = [
        Outputs("classification", truth, np.where(rng.random(60) < p, truth, 1 - truth))
        for p in (0.8, 0.6)
    ]
    rows = np.concatenate(list(resample_rows(60, 40, seed=2)))
    counts = np.concatenate(list(resample_counts(60, 40, seed=2)))
    np.testing.assert_array_equal(counts, [np.bincount(r, minlength=60) for r in rows])

    def scorer(out: Outputs) -> Callable[[np.ndarray | None], float]:
        def score(drawn: np.ndarray | None) -> float:
            picked = slice(None) if drawn is None else drawn
            return float(np.mean(out.truth[picked] == out.predicted[picked]))

        return score

    accuracy = parse_metric("accuracy", "classification", [], "m")
    custom = paired_bootstrap_rows(
        scorer(outputs[0]),
        scorer(outputs[1]),
        60,
        higher_is_better=True,
        resamples=40,
        confidence=0.95,
        seed=2,
    )
    built_in = paired_bootstrap(
        metric_function(accuracy, outputs[0]),
        metric_function(accuracy, outputs[1]),
        60,
        higher_is_better=True,
        resamples=40,
        confidence=0.95,
        seed=2,
    )
    np.testing.assert_array_equal(custom.samples, built_in.samples)
    assert (custom.low, custom.high) == (built_in.low, built_in.high)
