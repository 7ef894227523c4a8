"""Reference-versus-window histograms from stored summaries: bins over the reference's range
checked against numpy on the raw values (exact sketches exactly, coarse sketches within one
bucket's mass), values outside the reference's range, whole numbers, constant columns,
binned (profile) references, categories with ``other`` and new ones, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from mloop.core.errors import ValidationError
from mloop.monitoring import drift
from mloop.monitoring.drift import BinnedCounts, CategoricalSummary, NumericSummary
from mloop.monitoring.histograms import (
    bin_counts,
    categorical_histogram,
    column_histogram,
    numeric_histogram,
    reference_edges,
)


def _numeric(values: np.ndarray, like: drift.DataSummary | None = None) -> NumericSummary:
    table = pa.table({"x": values})
    summary = drift.summarize(table, like=like) if like else drift.summarize(table)
    column = summary.columns["x"]
    assert isinstance(column, NumericSummary)
    return column


def _counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Values in (edges[i], edges[i + 1]], the first bin closed."""
    found = [int(((values > a) & (values <= b)).sum()) for a, b in itertools.pairwise(edges)]
    found[0] += int((values == edges[0]).sum())
    return found


def test_exact_sketches_count_exactly_what_numpy_counts() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(10, 3, 2000).round(2)  # few distinct values: an exact sketch
    summary = _numeric(values)
    assert summary.exact
    edges = reference_edges(summary, bins=15)
    assert edges[0] == values.min() and edges[-1] == values.max() and len(edges) == 16
    found = bin_counts(summary, edges)
    assert found.counts == pytest.approx(_counts(values, edges))
    assert found.below == 0 and found.above == 0 and found.total == 2000


def test_coarse_sketches_stay_within_a_buckets_mass() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(0, 1, 200_000)  # far more distinct values than buckets
    summary = _numeric(values)
    assert not summary.exact
    edges = [0.0, 0.5, 1.0, 2.0, 5.0, 50.0]
    found = bin_counts(summary, edges)
    tolerance = summary.sketch.largest_bucket_share() * len(values) * 2
    for got, want in zip(found.counts, _counts(values, edges), strict=True):
        assert abs(got - want) <= tolerance
    assert found.above == pytest.approx((values > 50.0).sum(), abs=tolerance)
    assert sum(found.counts) + found.below + found.above == pytest.approx(len(values))


def test_window_values_outside_the_reference_get_bins_of_their_own() -> None:
    rng = np.random.default_rng(2)
    reference = drift.summarize(pa.table({"x": rng.uniform(0, 10, 500).round(1)}))
    window = rng.uniform(-5, 20, 400).round(1)
    current = _numeric(window, like=reference)
    found = numeric_histogram("x", reference.columns["x"], current, bins=10)  # type: ignore[arg-type]
    below, *inner, above = found.bins
    assert (below.kind, above.kind) == ("below", "above")
    assert below.reference == 0 and below.current == pytest.approx((window < 0).mean())
    assert above.current == pytest.approx((window > 10).mean())
    assert sum(b.reference for b in inner) == pytest.approx(1.0)
    assert sum(b.current for b in found.bins) == pytest.approx(1.0)
    assert below.label == "< 0" and inner[0].label == "0 to 1"


def test_whole_numbers_get_a_bin_each_and_constants_one() -> None:
    values = np.array([1, 2, 2, 3, 3, 3, 7], dtype=float)
    summary = _numeric(values)
    edges = reference_edges(summary)
    assert edges == [0.5 + i for i in range(8)]  # 1..7, one bin per number
    found = numeric_histogram("n", summary, summary)
    assert [b.label for b in found.bins] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [b.reference for b in found.bins] == pytest.approx([1 / 7, 2 / 7, 3 / 7, 0, 0, 0, 1 / 7])
    constant = _numeric(np.full(10, 4.0))
    assert reference_edges(constant) == [4.0, 4.0]
    other = _numeric(np.array([4.0, 4.0, 9.0]))
    (inside, above) = numeric_histogram("c", constant, other).bins
    assert (
        inside.label == "4"
        and inside.current == pytest.approx(2 / 3)
        and above.current == pytest.approx(1 / 3)
    )


def test_a_binned_profile_reference_works_too() -> None:
    binned = BinnedCounts(np.array([0.0, 1.0, 2.0, 4.0]), np.array([10, 30, 60]))
    reference = NumericSummary("double", 100, 0, 0, 0, 0, 2.0, 1.0, binned)
    edges = reference_edges(reference, bins=4)
    assert edges == [0.0, 1.0, 2.0, 3.0, 4.0]
    found = bin_counts(reference, edges)
    assert found.counts == pytest.approx([10, 30, 30, 30])  # spread evenly inside a bin


def test_categories_show_the_most_common_then_other_and_mark_new_ones() -> None:
    ref = drift.summarize(
        pa.table({"c": ["a"] * 50 + ["b"] * 30 + [f"r{i}" for i in range(20)]}),
        kinds={"c": "categorical"},
    )
    current = drift.summarize(pa.table({"c": ["a"] * 10 + ["z"] * 30}), like=ref)
    rc, cc = ref.columns["c"], current.columns["c"]
    assert isinstance(rc, CategoricalSummary) and isinstance(cc, CategoricalSummary)
    found = categorical_histogram("c", rc, cc, top=3)
    labels = {b.label: b for b in found.bins}
    assert list(labels) == ["z", "a", "b", "other"]
    assert labels["z"].kind == "new" and labels["z"].current == pytest.approx(0.75)
    assert labels["a"].reference == pytest.approx(0.5) and labels["a"].current == pytest.approx(
        0.25
    )
    assert labels["other"].reference == pytest.approx(0.2) and labels["other"].current == 0
    assert found.reference_count == 100 and found.current_count == 40


def test_bad_input_says_what_to_do() -> None:
    summary = _numeric(np.array([1.0, 2.0]))
    with pytest.raises(ValidationError, match="ascending"):
        bin_counts(summary, [3.0, 1.0])
    with pytest.raises(ValidationError, match="bins must be at least 1"):
        reference_edges(summary, bins=0)
    categories = drift.summarize(pa.table({"c": ["a"]}), kinds={"c": "categorical"}).columns["c"]
    with pytest.raises(ValidationError, match="numeric in the reference and categorical"):
        column_histogram("x", summary, categories)
