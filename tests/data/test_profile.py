"""Profiles: statistics on known data, every input kind, JSON round trips, streaming."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mloop.core.errors import NotFoundError, ValidationError
from mloop.data import DatasetProfile, open_source, profile_dataset
from mloop.data.profile import bin_counts


def _table(n: int = 10_000) -> pa.Table:
    values = np.arange(n, dtype="float64")  # 0 .. n-1: quantiles and histogram are known
    nullable = pa.array([None if i % 10 == 0 else float(i) for i in range(n)])
    cats = pa.array(["a" if i % 2 == 0 else ("b" if i % 3 else "c") for i in range(n)])
    return pa.table(
        {
            "x": values,
            "n": nullable,
            "i": pa.array(np.arange(n) % 7, type=pa.int32()),
            "cat": cats,
            "flag": pa.array([i % 4 == 0 for i in range(n)]),
            "ts": pa.array(
                [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i) for i in range(n)],
                type=pa.timestamp("us"),
            ),
        }
    )


def test_counts_nulls_and_moments() -> None:
    profile = profile_dataset(_table())
    assert profile.row_count == 10_000
    x = profile.column("x")
    assert (x.count, x.null_count, x.kind, x.type) == (10_000, 0, "numeric", "double")
    assert x.min == 0.0 and x.max == 9999.0
    assert x.mean == pytest.approx(4999.5)
    assert x.std == pytest.approx(np.arange(10_000).std(ddof=1))
    assert x.distinct == pytest.approx(10_000, rel=0.05)  # HyperLogLog estimate
    n = profile.column("n")
    assert (n.count, n.null_count) == (9_000, 1_000)
    assert n.null_share == pytest.approx(0.1)
    i = profile.column("i")
    assert i.type == "int32" and i.min == 0 and i.max == 6 and isinstance(i.min, int)
    assert i.distinct == 7


def test_quantiles_are_near_the_true_ones() -> None:
    profile = profile_dataset(_table(200_000))
    q = profile.column("x").quantiles
    assert q is not None and set(q) == {"0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"}
    for level, value in q.items():
        expected = float(level) * 199_999
        assert value == pytest.approx(expected, abs=0.01 * 200_000), level
    # below the sample size the quantiles are exact order statistics
    small = profile_dataset(pa.table({"v": np.arange(1001, dtype="float64")})).column("v")
    assert small.quantiles is not None
    assert small.quantiles["0.5"] == pytest.approx(500, abs=1)


def test_histogram_bins_sum_to_the_non_null_count() -> None:
    profile = profile_dataset(_table())
    for name in ("x", "n", "i"):
        col = profile.column(name)
        assert col.histogram is not None
        assert len(col.histogram.counts) == 20
        assert len(col.histogram.edges) == 21
        assert sum(col.histogram.counts) == col.count
        assert col.histogram.edges[0] == col.min and col.histogram.edges[-1] == col.max
    # 0..9999 in 20 equal bins of width 499.95: 500 values each
    assert profile.column("x").histogram.counts == [500] * 20  # type: ignore[union-attr]


def test_top_categories_and_booleans() -> None:
    profile = profile_dataset(_table(6_000))
    cat = profile.column("cat")
    assert cat.kind == "categorical"
    assert cat.top == [("a", 3000), ("b", 2000), ("c", 1000)]
    assert cat.categories == cat.top
    flag = profile.column("flag")
    assert flag.top == [(False, 4500), (True, 1500)]
    ts = profile.column("ts")
    assert ts.kind == "temporal" and ts.min == "2024-01-01T00:00:00"
    assert ts.histogram is None and ts.mean is None


def test_high_cardinality_columns_get_exact_counts_for_their_top_values() -> None:
    values = ["hot"] * 500 + [f"id{i}" for i in range(3000)]
    profile = profile_dataset(pa.table({"s": values}), max_categories=100, top_k=3)
    col = profile.column("s")
    assert col.categories is None
    assert col.top is not None and col.top[0] == ("hot", 500)
    assert len(col.top) == 3


def test_nan_and_infinity_are_counted_and_left_out() -> None:
    data = pa.table({"f": [1.0, 2.0, math.nan, math.inf, -math.inf, 3.0, None]})
    col = profile_dataset(data).column("f")
    assert col.count == 6 and col.null_count == 1
    assert col.non_finite_count == 3
    assert (col.min, col.max, col.mean) == (1.0, 3.0, 2.0)
    assert col.histogram is not None and sum(col.histogram.counts) == 3
    json.dumps(profile_dataset(data).to_dict(), allow_nan=False)


def test_constant_and_empty_columns() -> None:
    data = pa.table({"c": [5.0] * 10, "e": pa.array([None] * 10, type=pa.float64())})
    profile = profile_dataset(data)
    c = profile.column("c")
    assert c.histogram is not None
    assert c.histogram.edges == [5.0, 5.0] and c.histogram.counts == [10]
    assert c.std == 0.0
    e = profile.column("e")
    assert e.count == 0 and e.mean is None and e.histogram is None
    empty = profile_dataset(pa.table({"a": pa.array([], type=pa.int64())}))
    assert empty.row_count == 0 and empty.column("a").count == 0


def test_json_round_trip() -> None:
    profile = profile_dataset(_table(1000))
    text = profile.to_json()
    again = DatasetProfile.from_json(text)
    assert again.to_dict() == profile.to_dict()
    assert again.schema[0] == {"name": "x", "type": "double", "nullable": True}
    assert again.column("cat").top == profile.column("cat").top
    with pytest.raises(NotFoundError, match="did you mean 'cat'"):
        again.column("cta")


def test_newer_profile_format_is_refused() -> None:
    data = profile_dataset(_table(10)).to_dict()
    data["format_version"] = 99
    with pytest.raises(ValidationError, match="newer"):
        DatasetProfile.from_dict(data)


def test_every_input_kind_gives_the_same_profile(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, None, 4], "s": ["x", "y", "x", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    pacsv.write_csv(table, tmp_path / "t.csv")
    part = tmp_path / "parts"
    for i in range(2):
        (part / f"k={i}").mkdir(parents=True)
        pq.write_table(table, part / f"k={i}" / "f.parquet")
    batches = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))
    inputs = {
        "table": table,
        "pandas": table.to_pandas(),
        "reader": batches,
        "parquet": tmp_path / "t.parquet",
        "csv": str(tmp_path / "t.csv"),
    }
    for label, data in inputs.items():
        p = profile_dataset(data)
        assert p.row_count == 4, label
        a = p.column("a")
        assert (a.count, a.null_count, a.min, a.max) == (3, 1, 1, 4), label
        assert p.column("s").top == [("x", 2), ("y", 1)], label
    hive = profile_dataset(part)
    assert hive.row_count == 8 and "k" in hive
    assert hive.column("k").count == 8


def test_polars_frames() -> None:
    import polars as pl  # a dev dependency: missing, the test fails rather than skips

    p = profile_dataset(pl.DataFrame({"a": [1, 2, 3]}))
    assert p.column("a").mean == 2.0


def test_fsspec_urls(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bucket/data.parquet", "wb") as fh:
        pq.write_table(pa.table({"v": [1.0, 2.0, 3.0]}), fh)
    profile = profile_dataset("memory://bucket/data.parquet")
    assert profile.row_count == 3 and profile.column("v").mean == 2.0


def test_bad_inputs() -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        profile_dataset("/nonexistent/file.parquet")
    with pytest.raises(ValidationError, match="cannot read data from a int"):
        profile_dataset(42)
    with pytest.raises(NotFoundError, match="did you mean 'amount'"):
        profile_dataset(pa.table({"amount": [1]}), columns=["amuont"])
    dup = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(ValidationError, match="unique"):
        profile_dataset(dup)


def test_hostile_column_names_are_quoted() -> None:
    name = 'x"); DROP TABLE t; --'
    profile = profile_dataset(pa.table({name: [1.0, 2.0], "ok": [1, 2]}))
    assert profile.column(name).mean == 1.5


def test_spooled_reader_is_removed_on_close() -> None:
    table = pa.table({"a": [1, 2, 3]})
    source = open_source(pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))
    files = source.local_paths()
    assert Path(files[0]).exists()
    assert profile_dataset(source).row_count == 3
    assert profile_dataset(source).row_count == 3  # a spooled source can be read again
    source.close()
    assert not Path(files[0]).exists()


def test_bin_counts_clamps_values_outside_the_edges() -> None:
    edges = [0.0, 1.0, 2.0, 3.0]
    # DuckDB's histogram(x, [1, 2, 3]): keys are upper edges, inf holds values above 3
    assert bin_counts(edges, {1.0: 4, 2.0: 0, 3.0: 2, math.inf: 5}) == [4, 0, 7]


def test_streaming_profile_under_a_low_memory_limit(tmp_path: Path) -> None:
    """2 million rows x 10 columns through DuckDB capped at 200 MB: it completes."""
    path = tmp_path / "big.parquet"
    rng = np.random.default_rng(7)
    schema = None
    writer = None
    rows_per_chunk = 250_000
    for _ in range(8):
        chunk = {f"f{i}": rng.normal(size=rows_per_chunk) for i in range(6)}
        chunk["i0"] = rng.integers(0, 1000, rows_per_chunk)
        chunk["i1"] = rng.integers(0, 10**9, rows_per_chunk)
        chunk["s0"] = rng.choice(np.array(["a", "b", "c", "d"]), rows_per_chunk)
        chunk["s1"] = np.char.add("k", rng.integers(0, 10**6, rows_per_chunk).astype(str))
        table = pa.table(chunk)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(path, schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    profile = profile_dataset(path, memory_limit="200MB", threads=2)
    assert profile.row_count == 2_000_000
    assert len(profile.columns) == 10
    f0 = profile.column("f0")
    assert f0.mean == pytest.approx(0.0, abs=0.01)
    assert f0.std == pytest.approx(1.0, abs=0.01)
    assert sum(f0.histogram.counts) == 2_000_000  # type: ignore[union-attr]
    assert profile.column("s0").categories is not None
    assert profile.column("s1").categories is None and profile.column("s1").top


def test_profile_of_pandas_keeps_nan_as_null() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0]})
    col = profile_dataset(df).column("a")
    assert (col.count, col.null_count, col.non_finite_count) == (2, 1, 0)


def test_zoned_timestamps_and_dates() -> None:
    data = pa.table(
        {
            "z": pa.array(
                [dt.datetime(2024, 6, 1, 11, tzinfo=dt.UTC), None],
                type=pa.timestamp("us", tz="Europe/Berlin"),
            ),
            "d": pa.array([dt.date(2024, 5, 31), dt.date(2024, 1, 1)]),
            "ns": pa.array([dt.datetime(2024, 1, 1, 0, 0, 1)] * 2, type=pa.timestamp("ns")),
        }
    )
    profile = profile_dataset(data)
    z = profile.column("z")
    assert (z.kind, z.min, z.max, z.null_count) == (
        "temporal",
        "2024-06-01T11:00:00+00:00",
        "2024-06-01T11:00:00+00:00",
        1,
    )
    assert profile.column("d").min == "2024-01-01"
    assert profile.column("ns").max == "2024-01-01T00:00:01"
