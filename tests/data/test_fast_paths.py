"""Validation's fast paths give the results of the plain queries they replace.

Uniqueness of integral keys is counted by direct addressing (``uniqueness``) and value checks
on low-cardinality string columns once per distinct value (``by_value``). Each test runs the
same data through the fast path and, with the fast path switched off, through the ``GROUP
BY`` / per-row query, and compares the reports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.core.errors import ValidationError
from mloop.data import Column, Contract, ValidationReport, by_value, uniqueness, validate
from mloop.data.contract import UniqueKey


def _without_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uniqueness, "strides", lambda *args: None)


def _refuse_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the direct count should not run for this key")

    monkeypatch.setattr(uniqueness, "count_duplicates", refuse)


def _summary(report: ValidationReport) -> dict[str, Any]:
    return {
        c.name: (c.status, c.message, c.failing_count, c.observed, c.examples)
        for c in report.checks
    }


def _both(
    monkeypatch: pytest.MonkeyPatch, data: Any, contract: Contract, **kwargs: Any
) -> tuple[ValidationReport, ValidationReport]:
    fast = validate(data, contract, **kwargs)
    with monkeypatch.context() as m:
        _without_dense(m)
        m.setattr(by_value, "worth_grouping", lambda *args: False)
        plain = validate(data, contract, **kwargs)
    return fast, plain


# -- uniqueness -----------------------------------------------------------------------------


def test_composite_key_duplicates_match_group_by(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    customer = rng.integers(-50, 50, n)
    day = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    df = pd.DataFrame({"customer": customer, "day": day.date})
    # Nulls in either key column: those rows are not compared.
    df.loc[rng.choice(n, 300, replace=False), "customer"] = None
    df["customer"] = df["customer"].astype("Int64")
    df.loc[rng.choice(n, 300, replace=False), "day"] = None
    contract = Contract(name="c", unique=[UniqueKey(("customer", "day"))])
    fast, plain = _both(monkeypatch, df, contract, examples=3)
    result = fast.check("unique(customer, day)")
    keyed = df.dropna()
    sizes = keyed.groupby(["customer", "day"]).size()
    assert result.status == "failed"
    assert result.failing_count == int(sizes[sizes > 1].sum())
    assert result.observed["duplicated_keys"] == int((sizes > 1).sum())
    # The most repeated keys, first by count, then by key.
    counted: list[tuple[Any, int]] = list(sizes.items())
    ranked = sorted((-int(n), int(key[0]), key[1]) for key, n in counted)[:3]
    expected = [{"customer": c, "day": d.isoformat(), "count": -n} for n, c, d in ranked]
    assert result.examples == expected
    other = plain.check("unique(customer, day)")
    assert (other.failing_count, other.observed, other.message) == (
        result.failing_count,
        result.observed,
        result.message,
    )
    assert [e["count"] for e in other.examples] == [e["count"] for e in expected]


def test_keys_that_share_a_packed_sum_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where a slot number were a plain sum or a weak hash, (0, 10) and (1, 0) or (10, 0)
    # would collide; the strides make every key its own slot.
    df = pd.DataFrame({"a": [0, 1, 10, 0, 2, -3], "b": [10, 0, 0, 1, -2, 7]})
    contract = Contract(name="c", unique=[UniqueKey(("a", "b"))])
    report = validate(df, contract)
    assert report.check("unique(a, b)").status == "passed"
    df.loc[len(df)] = [-3, 7]
    fast, plain = _both(monkeypatch, df, contract)
    assert fast.check("unique(a, b)").examples == [{"a": -3, "b": 7, "count": 2}]
    assert _summary(fast) == _summary(plain)


def test_repeats_within_and_across_batches_are_counted_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uniqueness, "BATCH_ROWS", 1_000)
    ids = np.arange(10_000)
    ids[[5, 6, 7, 9_000]] = 4  # 4 appears five times, in the first batch and the last
    ids[[100, 8_500]] = 99  # 99 three times
    ids[20] = 21
    df = pd.DataFrame({"id": ids})
    contract = Contract(name="c", columns={"id": Column(unique=True)})
    fast, plain = _both(monkeypatch, df, contract)
    result = fast.check("id.unique")
    assert (result.failing_count, result.observed["duplicated_keys"]) == (10, 3)
    assert result.examples == [
        {"id": 4, "count": 5},
        {"id": 99, "count": 3},
        {"id": 21, "count": 2},
    ]
    assert _summary(fast) == _summary(plain)


def test_timestamp_keys_report_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    ts = [base + dt.timedelta(microseconds=i) for i in range(1_000)]
    ts[500] = ts[499]
    table = pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC"))})
    contract = Contract(name="c", columns={"ts": Column(unique=True)})
    fast, plain = _both(monkeypatch, table, contract)
    assert fast.check("ts.unique").examples == [
        {"ts": "2024-05-01T00:00:00.000499+00:00", "count": 2}
    ]
    assert _summary(fast) == _summary(plain)


def test_only_null_keys_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"id": pd.array([None, None, None], dtype="Int64")})
    contract = Contract(name="c", columns={"id": Column(unique=True)})
    _refuse_dense(monkeypatch)  # no bounds: the GROUP BY answers
    assert validate(df, contract).check("id.unique").status == "passed"


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([-(2**63), 2**63 - 1, 5, 5], id="full-int64-range"),
        pytest.param([0, 10**12, 10**12], id="sparse"),
        pytest.param(["a", "b", "b"], id="strings"),
        pytest.param([0.5, 1.5, 1.5], id="floats"),
    ],
)
def test_keys_outside_the_fast_path_use_group_by(
    monkeypatch: pytest.MonkeyPatch, values: list[Any]
) -> None:
    _refuse_dense(monkeypatch)
    df = pd.DataFrame({"k": values})
    result = validate(df, Contract(name="c", columns={"k": Column(unique=True)})).check("k.unique")
    assert (result.status, result.failing_count) == ("failed", 2)
    assert result.examples[0]["count"] == 2


def test_memory_limit_caps_the_counts_array(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"id": np.arange(1_000_000) * 7})
    contract = Contract(name="c", columns={"id": Column(unique=True)})
    calls: list[int] = []
    real = uniqueness.count_duplicates

    def counting(*args: Any, **kwargs: Any) -> uniqueness.Duplicates:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(uniqueness, "count_duplicates", counting)
    assert validate(df, contract, memory_limit="1GB").check("id.unique").status == "passed"
    assert calls == [1]
    # 7M slots need 56 MB, more than half of a 100 MB limit: the GROUP BY answers.
    _refuse_dense(monkeypatch)
    assert validate(df, contract, memory_limit="100MB").check("id.unique").status == "passed"


def test_strides_and_budget() -> None:
    assert uniqueness.strides([0, 10], [9, 12], rows=100, budget=1 << 20) == [3, 1]
    assert uniqueness.strides([0], [99], rows=10, budget=1 << 20) == [1]
    # too many slots for the budget, or for the rows (sparse keys)
    assert uniqueness.strides([0], [1 << 20], rows=1 << 20, budget=1 << 20) is None
    assert uniqueness.strides([0], [10**7], rows=10, budget=1 << 30) is None
    assert uniqueness.budget_bytes("953.6 MiB") == int(953.6 * 2**20) // 2
    assert uniqueness.budget_bytes("1.0 GiB") == 2**29
    assert uniqueness.budget_bytes("unknown") == 64 << 20


def test_count_duplicates_orders_ties_by_key() -> None:
    batches = [
        pa.record_batch({"a": [3, 1, 3, 2]}),
        pa.record_batch({"a": [1, 2, 2, 0]}),
    ]
    found = uniqueness.count_duplicates(batches, lows=[0], steps=[1], size=4, limit=5)
    assert (found.groups, found.rows) == (3, 7)
    assert found.top == [([2], 3), ([1], 2), ([3], 2)]


def test_values_outside_the_bounds_read_before_are_refused() -> None:
    # The bounds come from the aggregate query; data that changed since would otherwise land
    # in other keys' slots.
    batches = [pa.record_batch({"a": [0, 1]}), pa.record_batch({"a": [2, 7]})]
    with pytest.raises(ValidationError, match="did the data change"):
        uniqueness.count_duplicates(batches, lows=[0], steps=[1], size=4, limit=5)
    with pytest.raises(ValidationError, match="'b'"):
        batch = pa.record_batch({"a": [0, 1], "b": [0, -1]})
        uniqueness.count_duplicates([batch], lows=[0, 0], steps=[2, 1], size=4, limit=5)


# -- value checks by distinct value -----------------------------------------------------------


def _values_frame(n: int = 5_000) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    country = rng.choice(np.array(["DE", "FR", "US", "XX"]), n, p=[0.5, 0.3, 0.19, 0.01])
    email = np.array([f"u{i % 50}@example.com" for i in range(n)], dtype=object)
    email[::97] = "not an email"
    email[::101] = None
    df = pd.DataFrame({"country": country, "email": email, "id": np.arange(n)})
    df.loc[::89, "country"] = None
    df["segment"] = pd.Categorical(rng.choice(np.array(["a", "b", "z"]), n))
    return df


_VALUES_CONTRACT = Contract(
    name="v",
    columns={
        "country": Column(allowed=["DE", "FR", "US"]),
        "email": Column(regex=r"^[^@ ]+@[^@ ]+$", allowed=["u1@example.com", "u2@example.com"]),
        "segment": Column(allowed=["a", "b"]),
        "id": Column(),
    },
)


def test_value_checks_by_distinct_value_match_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df = _values_frame()
    grouped: list[str] = []
    real = by_value.grouped_sql

    def spy(view: str, column: str, conditions: Any) -> str:
        grouped.append(column)
        return real(view, column, conditions)

    monkeypatch.setattr(by_value, "grouped_sql", spy)
    fast, plain = _both(monkeypatch, df, _VALUES_CONTRACT, examples=4)
    assert sorted(grouped) == ["country", "email", "segment"]
    expected = {
        "country.allowed": int(
            (~df["country"].isin(["DE", "FR", "US"]) & df["country"].notna()).sum()
        ),
        "email.regex": int((df["email"] == "not an email").sum()),
        "email.allowed": int(
            (~df["email"].isin(["u1@example.com", "u2@example.com"]) & df["email"].notna()).sum()
        ),
        "segment.allowed": int((df["segment"] == "z").sum()),
    }
    for name, count in expected.items():
        assert fast.check(name).failing_count == count, name
        assert plain.check(name).failing_count == count, name
        assert fast.check(name).message == plain.check(name).message
        assert len(fast.check(name).examples) == 4
    assert {e["country"] for e in fast.check("country.allowed").examples} == {"XX"}


def test_high_cardinality_columns_stay_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"email": [f"user{i}@example.com" for i in range(2_000)]})
    df.loc[7, "email"] = "broken"

    def refuse(*args: Any) -> str:
        raise AssertionError("a column of distinct values should not be grouped")

    monkeypatch.setattr(by_value, "grouped_sql", refuse)
    contract = Contract(name="c", columns={"email": Column(regex="@")})
    result = validate(df, contract).check("email.regex")
    assert (result.failing_count, result.examples[0]["email"]) == (1, "broken")


def test_worth_grouping_thresholds() -> None:
    assert by_value.worth_grouping(1_000, 200, has_regex=True)
    assert not by_value.worth_grouping(1_000, 200, has_regex=False)
    assert by_value.worth_grouping(1_000, 5, has_regex=False)
    assert not by_value.worth_grouping(0, 0, has_regex=True)


def test_a_column_named_like_the_count_is_grouped_correctly() -> None:
    df = pd.DataFrame({"__mloop_rows": ["a"] * 50 + ["b"] * 3})
    contract = Contract(name="c", columns={"__mloop_rows": Column(allowed=["a"])})
    result = validate(df, contract).check("__mloop_rows.allowed")
    assert (result.status, result.failing_count) == ("failed", 3)


def test_quoted_column_names_work_on_both_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame(
        {
            'we"ird key': [1, 2, 2, 3] * 50,
            "day x": [dt.date(2024, 1, d) for d in (1, 2, 2, 3)] * 50,
            "se lect": ["a", "b", "b", "zz"] * 50,
        }
    )
    contract = Contract(
        name="c",
        columns={"se lect": Column(allowed=["a", "b"], regex="^[ab]$")},
        unique=[UniqueKey(('we"ird key', "day x"))],
    )
    fast, plain = _both(monkeypatch, df, contract)
    key = fast.check('unique(we"ird key, day x)')
    assert (key.failing_count, key.observed["duplicated_keys"]) == (200, 3)
    assert key.examples[0] == {'we"ird key': 2, "day x": "2024-01-02", "count": 100}
    assert fast.check("se lect.allowed").failing_count == 50
    assert fast.check("se lect.regex").failing_count == 50
    for name in ("se lect.allowed", "se lect.regex"):
        assert fast.check(name).message == plain.check(name).message
