"""The quantile sketch: exact while small, bounded in size, exactly mergeable, and close."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mloop.core.errors import ValidationError
from mloop.monitoring.drift.sketch import QuantileSketch, SketchBuilder, bucket_keys

floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
value_lists = st.lists(
    st.one_of(floats, st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, 5e300])), max_size=200
)


def sketch_of(values: list[float], max_buckets: int = 64) -> QuantileSketch:
    return QuantileSketch.of(np.asarray(values, dtype=float), max_buckets=max_buckets)


def test_small_data_is_kept_exactly() -> None:
    values = np.array([3.5, -2.0, 3.5, 0.0, -0.0, 1e-9, 7.25])
    sketch = QuantileSketch.of(values)
    assert sketch.exact and sketch.count == 7
    assert sketch.values().tolist() == [-2.0, 0.0, 1e-9, 3.5, 7.25]
    assert sketch.counts.tolist() == [1, 2, 1, 2, 1]  # -0.0 counts as 0.0
    assert (sketch.low, sketch.high) == (-2.0, 7.25)


def test_exact_cdf_and_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(-50, 50, 700).astype(float)
    sketch = QuantileSketch.of(values)
    points = np.linspace(-60, 60, 97)
    expected = np.searchsorted(np.sort(values), points, side="right") / values.size
    np.testing.assert_array_equal(sketch.cdf(points), expected)
    levels = np.linspace(0, 1, 41)
    np.testing.assert_array_equal(
        sketch.quantiles(levels), np.quantile(values, levels, method="inverted_cdf")
    )


def test_keys_sort_as_values_and_coarsen_by_one_shift() -> None:
    values = np.sort(np.r_[-np.logspace(-5, 5, 50), 0.0, np.logspace(-5, 5, 50)])
    for shift in (0, 10, 40, 51):
        keys = bucket_keys(values, shift)
        assert (np.diff(keys) >= 0).all()
        np.testing.assert_array_equal(bucket_keys(values, shift + 1), keys >> 1)


def test_large_data_stays_within_max_buckets_and_counts_everything() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(0, 2, 200_000)
    builder = SketchBuilder(max_buckets=512)
    for start in range(0, values.size, 10_000):
        builder.add(values[start : start + 10_000])
    sketch = builder.result()
    assert not sketch.exact
    assert sketch.keys.size <= 512
    assert sketch.count == values.size
    assert (sketch.low, sketch.high) == (values.min(), values.max())
    lower, upper = sketch.edges()
    assert (lower <= upper).all() and lower[0] == values.min() and upper[-1] == values.max()


def test_streaming_equals_one_shot() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(1000, 0.1, 50_000)  # one power of two: fine buckets
    builder = SketchBuilder(max_buckets=256)
    for start in range(0, values.size, 3_000):
        builder.add(values[start : start + 3_000])
    assert builder.result() == QuantileSketch.of(values, max_buckets=256)


def test_bucketed_cdf_is_close_to_the_data() -> None:
    rng = np.random.default_rng(2)
    for values in (rng.normal(0, 1, 100_000), rng.normal(1e6, 1, 100_000)):
        sketch = QuantileSketch.of(values)
        points = np.quantile(values, np.linspace(0.01, 0.99, 50))
        exact = np.searchsorted(np.sort(values), points, side="right") / values.size
        assert np.abs(sketch.cdf(points) - exact).max() <= sketch.largest_bucket_share()


@settings(max_examples=150, deadline=None)
@given(value_lists, value_lists, value_lists)
def test_merge_is_associative_and_commutative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    x, y, z = sketch_of(a), sketch_of(b), sketch_of(c)
    assert x.merge(y).merge(z) == x.merge(y.merge(z))
    assert x.merge(y) == y.merge(x)
    # ... and merging equals sketching the union at once
    assert x.merge(y).merge(z) == sketch_of(a + b + c)


@settings(max_examples=50, deadline=None)
@given(value_lists)
def test_json_round_trip(values: list[float]) -> None:
    sketch = sketch_of(values)
    text = json.dumps(sketch.to_dict(), allow_nan=False)
    assert QuantileSketch.from_dict(json.loads(text)) == sketch


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="finite"):
        QuantileSketch.of([1.0, float("nan")])
    with pytest.raises(ValidationError, match="max_buckets"):
        QuantileSketch.of([1.0], max_buckets=3)
    with pytest.raises(ValidationError, match="not a quantile sketch"):
        QuantileSketch.from_dict({"shift": 0, "key_deltas": [1, 2], "counts": [1]})
    with pytest.raises(ValidationError, match="keys must increase"):
        QuantileSketch.from_dict({"shift": 0, "key_deltas": [5, -1], "counts": [1, 1]})
