"""Reference summaries: what they count, every input kind, merging and JSON."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring import drift
from mloop.monitoring.drift.categories import CategoryCounter, CategoryCounts
from mloop.monitoring.drift.sketch import QuantileSketch
from mloop.monitoring.drift.summary import CategoricalSummary, DataSummary, NumericSummary


def table(n: int = 5_000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, n)
    x[:7] = np.nan
    x[7:9] = np.inf
    x[9] = -np.inf
    return pa.table(
        {
            "x": pa.array(x, mask=np.arange(n) % 100 == 50),
            "k": pa.array(rng.integers(0, 4, n)),
            "city": pa.array(rng.choice(["Oslo", "Rome", "Lima"], n)),
            "flag": pa.array(rng.random(n) < 0.3),
            "when": pa.array(np.arange(n).astype("datetime64[s]")),
        }
    )


def numeric(summary: DataSummary, name: str) -> NumericSummary:
    column = summary.column(name)
    assert isinstance(column, NumericSummary)
    return column


def categorical(summary: DataSummary, name: str) -> CategoricalSummary:
    column = summary.column(name)
    assert isinstance(column, CategoricalSummary)
    return column


def test_counts_moments_and_kinds() -> None:
    data = table()
    summary = drift.summarize(data, seed=1)
    assert summary.rows == 5_000
    assert summary.column_names == ["x", "k", "city", "flag"]
    assert summary.skipped == {"when": "timestamp[s]"}
    x = numeric(summary, "x")
    raw = data.column("x").to_numpy(zero_copy_only=False)
    nulls = data.column("x").null_count
    finite = raw[np.isfinite(raw)]
    assert (x.nulls, x.pos_inf, x.neg_inf) == (nulls, 2, 1)
    assert x.nan == 7  # Arrow nulls are nulls; float NaN is counted apart
    assert x.count == finite.size == x.sketch.count
    assert math.isclose(x.mean or 0, finite.mean(), rel_tol=1e-12)
    assert math.isclose(x.std or 0, finite.std(), rel_tol=1e-9)
    assert (x.min, x.max) == (finite.min(), finite.max())
    city = categorical(summary, "city")
    values, counts = np.unique(
        data.column("city").to_numpy(zero_copy_only=False), return_counts=True
    )
    assert dict(city.categories.counts) == dict(zip(values.tolist(), counts.tolist(), strict=True))
    flag = categorical(summary, "flag")
    assert set(flag.categories.counts) == {"true", "false"}


def test_every_input_kind_gives_the_same_summary(tmp_path: Path) -> None:
    data = table().drop(["when"])
    path = tmp_path / "data.parquet"
    pq.write_table(data, path, row_group_size=1_000)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(data.slice(0, 2_000), folder / "a.parquet")
    pq.write_table(data.slice(2_000), folder / "b.parquet")
    expected = drift.summarize(data, sample_rows=0).to_dict()
    inputs = [
        data.to_batches()[0],
        pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=700)),
        path,
        str(folder),
    ]
    for source in inputs:
        got = drift.summarize(source, sample_rows=0, batch_rows=900).to_dict()
        got["source"] = expected["source"]
        for name in ("x", "k"):  # moments summed in other batches: equal to rounding
            assert math.isclose(got["columns"][name]["m2"], expected["columns"][name]["m2"])
            got["columns"][name]["m2"] = expected["columns"][name]["m2"]
            assert math.isclose(got["columns"][name]["mean"], expected["columns"][name]["mean"])
            got["columns"][name]["mean"] = expected["columns"][name]["mean"]
        assert got == expected, type(source)


def test_polars_and_duckdb_streams() -> None:
    import duckdb
    import polars as pl

    frame = pl.DataFrame({"a": [1.0, 2.0, None, 4.0], "b": ["x", "y", "x", None]})
    summary = drift.summarize(frame)
    assert (numeric(summary, "a").count, numeric(summary, "a").nulls) == (3, 1)
    assert dict(categorical(summary, "b").categories.counts) == {"x": 2, "y": 1}
    assert summary.sample is not None and summary.sample.columns["b"].count("x") == 2
    relation = duckdb.sql("SELECT range / 2 AS a, 'k' || (range % 3) AS b FROM range(1000)")
    assert relation is not None
    summary = drift.summarize(relation.to_arrow_reader())
    assert numeric(summary, "a").count == 1000
    assert set(categorical(summary, "b").categories.counts) == {"k0", "k1", "k2"}


def test_pandas_nan_is_missing_and_categoricals_are_categories() -> None:
    frame = pd.DataFrame({"v": [1.0, np.nan, 3.0, 4.0], "c": pd.Categorical(["a", "b", None, "a"])})
    summary = drift.summarize(frame)
    v = numeric(summary, "v")
    assert (v.count, v.nulls, v.nan) == (3, 1, 0)
    c = categorical(summary, "c")
    assert dict(c.categories.counts) == {"a": 2, "b": 1} and c.nulls == 1


def test_kinds_override_and_progress() -> None:
    seen: list[tuple[int, int | None]] = []
    summary = drift.summarize(
        table(),
        columns=["k", "flag"],
        kinds={"k": "categorical", "flag": "numeric"},
        batch_rows=1_000,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert set(categorical(summary, "k").categories.counts) == {"0", "1", "2", "3"}
    flag = numeric(summary, "flag")
    assert isinstance(flag.sketch, QuantileSketch)
    assert flag.sketch.values().tolist() == [0.0, 1.0]
    assert seen == [(1_000 * i, 5_000) for i in range(1, 6)]


def test_single_threaded_equals_parallel() -> None:
    data = table(20_000)
    one = drift.summarize(data, threads=1, seed=4).to_dict()
    many = drift.summarize(data, threads=4, seed=4).to_dict()
    assert one == many


def test_bad_input_is_refused_with_what_to_do() -> None:
    data = table()
    with pytest.raises(NotFoundError, match=r"no column 'cty' \(did you mean 'city'\?\)"):
        drift.summarize(data, columns=["cty"])
    with pytest.raises(ValidationError, match=r"'when' is timestamp.*cast it"):
        drift.summarize(data, columns=["when"])
    with pytest.raises(ValidationError, match="unknown kind 'text'"):
        drift.summarize(data, kinds={"city": "text"})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="'city' is numeric in kinds but string"):
        drift.summarize(data, kinds={"city": "numeric"})
    with pytest.raises(ValidationError, match="cannot read list"):
        drift.summarize([1, 2, 3])
    reference = drift.summarize(data)
    changed = data.set_column(2, "city", pa.array(np.arange(5_000)))
    with pytest.raises(ValidationError, match=r"'city' holds categories .* in the reference"):
        drift.summarize(changed, like=reference)
    with pytest.raises(ValidationError, match="either like= or columns="):
        drift.summarize(data, like=reference, columns=["x"])


def test_empty_data_gives_an_empty_summary_that_merges_as_identity() -> None:
    data = table()
    empty = drift.summarize(data.slice(0, 0), sample_rows=0)
    assert empty.rows == 0 and numeric(empty, "x").count == 0
    full = drift.summarize(data, sample_rows=0)
    assert empty.merge(full).to_dict() | {"source": ""} == full.to_dict() | {"source": ""}


# --------------------------------------------------------------------------- merging

# Moments are sums of floats, associative only up to rounding: moderate values keep the
# rounding small (the sketch's own property test covers every float).
numbers = st.one_of(
    st.floats(-1e6, 1e6), st.sampled_from([float("nan"), float("inf"), float("-inf")])
)
rows = st.lists(
    st.tuples(
        st.one_of(st.none(), numbers),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])),
    ),
    max_size=60,
)


def summary_of(part: list[tuple[float | None, str | None]], seed: int) -> DataSummary:
    data = pa.table(
        {
            "v": pa.array([r[0] for r in part], pa.float64()),
            "c": pa.array([r[1] for r in part], pa.string()),
        }
    )
    return drift.summarize(
        data, max_buckets=64, max_categories=3, sample_rows=5, seed=seed, threads=1
    )


def same(one: DataSummary, other: DataSummary) -> None:
    """Equal summaries: the moments to rounding, everything else exactly."""
    a, b = one.to_dict(), other.to_dict()
    for key in ("mean", "m2"):
        x, y = a["columns"]["v"].pop(key), b["columns"]["v"].pop(key)
        assert (x is None) == (y is None)
        if x is not None:
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6), key
    assert a == b


@settings(max_examples=120, deadline=None)
@given(rows, rows, rows)
def test_merge_is_associative(
    a: list[tuple[float | None, str | None]],
    b: list[tuple[float | None, str | None]],
    c: list[tuple[float | None, str | None]],
) -> None:
    x, y, z = summary_of(a, 1), summary_of(b, 2), summary_of(c, 3)
    left, right = x.merge(y).merge(z), x.merge(y.merge(z))
    same(left, right)
    same(drift.merge(x, y, z), left)
    same(x.merge(y), y.merge(x))
    # Counts, sketches and categories equal those of the union summarised at once.
    union = summary_of(a + b + c, 9).to_dict()
    for name in ("v", "c"):
        merged = left.to_dict()["columns"][name]
        for key in ("count", "nulls", "nan", "pos_inf", "neg_inf", "sketch", "counts", "other"):
            assert merged.get(key) == union["columns"][name].get(key)


def test_category_cap_keeps_a_fixed_subset_and_counts_the_rest() -> None:
    counter = CategoryCounter(max_categories=10)
    labels = [f"id-{i}" for i in range(500)]
    counter.add_counts((label, 2) for label in labels)
    counts = counter.result()
    assert len(counts.counts) == 10 and counts.capped
    assert counts.total == 1_000 and counts.other == 980
    # The same labels in another order and split keep the same ones.
    again = CategoryCounter(max_categories=10)
    for part in (labels[300:], labels[:300][::-1]):
        again.add_counts((label, 2) for label in part)
    assert again.result() == counts


def test_json_round_trip_and_refusals() -> None:
    summary = drift.summarize(table(), seed=5)
    text = summary.to_json()
    again = DataSummary.from_json(text)
    assert again.to_dict() == summary.to_dict()
    with pytest.raises(ValidationError, match="not JSON"):
        DataSummary.from_json("{")
    data = summary.to_dict()
    data["format_version"] = 99
    with pytest.raises(ValidationError, match="newer than this mloop reads"):
        DataSummary.from_dict(data)
    data = summary.to_dict()
    data["columns"]["x"]["count"] += 1
    with pytest.raises(ValidationError, match=r"counts .* values but its distribution"):
        DataSummary.from_dict(data)
    with pytest.raises(ValidationError, match="unknown column summary kind"):
        DataSummary.from_dict({"rows": 1, "columns": {"x": {"kind": "text"}}})
    other = drift.summarize(table().drop(["x"]))
    with pytest.raises(ValidationError, match="only in the first: \\['x'\\]"):
        summary.merge(other)


def test_select_keeps_the_named_columns_and_their_sample() -> None:
    summary = drift.summarize(table(), seed=2)
    picked = summary.select(["city", "x"])
    assert picked.column_names == ["city", "x"] and picked.rows == summary.rows
    assert picked.sample is not None and list(picked.sample.columns) == ["city", "x"]
    assert picked.column("x").to_dict() == summary.column("x").to_dict()
    with pytest.raises(NotFoundError, match="no column 'nope'"):
        summary.select(["nope"])


def test_top_value_counts_merge_only_with_the_same_vocabulary() -> None:
    top = CategoryCounts({"a": 5}, other=7, kept="top", vocabulary=("a", "b"))
    with pytest.raises(ValidationError, match="merge only with counts of the same values"):
        top.merge(CategoryCounts({"a": 1}))
    same = CategoryCounts({"b": 2}, other=1, kept="top", vocabulary=("a", "b"))
    assert top.merge(same) == CategoryCounts({"a": 5, "b": 2}, 8, kept="top", vocabulary=("a", "b"))
    assert CategoryCounts.from_dict(top.merge(same).to_dict()) == top.merge(same)
