"""Validation: every check kind on clean and corrupted data, reports, hostile input."""

from __future__ import annotations

import datetime as dt
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mloop.data import (
    Column,
    Contract,
    ContractError,
    Distribution,
    Freshness,
    RowCount,
    Rule,
    ValidationReport,
    check,
    parse_contract,
    population_stability_index,
    profile_dataset,
    validate,
)

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)

CONTRACT = """\
contract: orders
columns:
  id: {type: int, unique: true, nullable: false}
  customer_id: {type: int}
  day: {type: date}
  amount: {type: float, nullable: false, min: 0, max: 1000}
  discount: {type: float, min: 0}
  country: {type: string, allowed: [DE, FR, US]}
  email: {type: string, regex: '^[^@]+@[^@]+$', severity: warn}
  ts: {type: timestamp}
unique: [[customer_id, day]]
rows: {min: 100, max: 10000}
freshness: {column: ts, max_age: 2d}
rules:
  - name: discount_le_amount
    sql: discount <= amount
"""


def _clean(n: int = 1000) -> pd.DataFrame:
    ids = np.arange(n)
    return pd.DataFrame(
        {
            "id": ids,
            "customer_id": ids // 10,
            "day": [dt.date(2024, 1, 1) + dt.timedelta(days=int(i % 10)) for i in ids],
            "amount": (ids % 100).astype("float64") * 10.0,
            "discount": (ids % 100).astype("float64"),
            "country": np.array(["DE", "FR", "US"])[ids % 3],
            "email": [f"user{i}@example.com" for i in ids],
            "ts": pd.Timestamp("2024-06-01") - pd.to_timedelta(ids, unit="min"),
        }
    )


def _run(df: pd.DataFrame, contract: str = CONTRACT, **kwargs: Any) -> ValidationReport:
    return validate(df, parse_contract(contract, "orders.yaml"), now=NOW, **kwargs)


def test_clean_data_passes_every_check() -> None:
    report = _run(_clean())
    assert report.passed
    assert report.row_count == 1000
    assert {c.status for c in report.checks} == {"passed"}, report.to_text()
    assert all(c.failing_count in (0, None) for c in report.checks)
    assert report.check("amount.min").failing_share == 0.0
    assert report.check("ts.freshness").observed["age_seconds"] == 12 * 3600


def test_each_corruption_fails_its_check_with_counts_and_examples() -> None:
    df = _clean()
    df.loc[[1, 2, 3], "amount"] = None  # 3 nulls
    df.loc[[10, 11], "amount"] = [-5.0, 5000.0]  # one below min, one above max
    df.loc[20, "country"] = "XX"
    df.loc[[30, 31], "email"] = ["nope", None]  # the null is not a regex failure
    df.loc[40, "id"] = 41  # duplicate id 41 (rows 40 and 41)
    df.loc[50, "day"] = df.loc[51, "day"]  # customer 5 on one day twice
    df.loc[60, "discount"] = 999.0  # 999 > 600
    report = _run(df)
    assert not report.passed
    expect = {
        "amount.not_null": 3,
        "amount.min": 1,
        "amount.max": 1,
        "country.allowed": 1,
        "email.regex": 1,
        "id.unique": 2,
        "unique(customer_id, day)": 2,
        "discount_le_amount": 2,  # row 60, and row 10 (discount 10 > amount -5)
    }
    for name, count in expect.items():
        result = report.check(name)
        assert (result.status, result.failing_count) == ("failed", count), name
        assert result.failing_share == pytest.approx(count / 1000)
    assert {r["id"] for r in report.check("amount.not_null").examples} == {1, 2, 3}
    assert report.check("amount.min").examples[0]["amount"] == -5.0
    assert report.check("country.allowed").examples == [
        {**report.check("country.allowed").examples[0], "country": "XX", "id": 20}
    ]
    assert report.check("id.unique").examples == [{"id": 41, "count": 2}]
    assert report.check("unique(customer_id, day)").examples[0]["count"] == 2
    assert {r["id"] for r in report.check("discount_le_amount").examples} == {10, 60}
    # the example rows are whole rows, JSON-safe
    row = report.check("amount.max").examples[0]
    assert set(row) == set(df.columns) and row["day"] == "2024-01-02"
    # the warn-severity regex failure alone would not fail the report
    assert [c.name for c in report.warnings] == ["email.regex"]
    assert "email.regex" not in [c.name for c in report.errors]


def test_examples_are_capped() -> None:
    df = _clean()
    df["amount"] = -1.0
    report = _run(df, examples=5)
    assert report.check("amount.min").failing_count == 1000
    assert len(report.check("amount.min").examples) == 5
    report = _run(df, examples=0)
    assert report.check("amount.min").examples == []


def test_warnings_do_not_fail_the_report() -> None:
    df = _clean()
    df.loc[5, "email"] = "broken"
    report = _run(df)
    assert report.passed
    assert report.check("email.regex").status == "failed"


def test_renamed_column_is_reported_and_its_checks_skipped() -> None:
    df = _clean().rename(columns={"amount": "amount_eur"})
    report = _run(df)
    assert not report.passed
    present = report.check("amount.present")
    assert present.status == "failed"
    assert "did you mean 'amount_eur'" in present.message
    for name in ("amount.type", "amount.not_null", "amount.min", "amount.max"):
        assert report.check(name).status == "skipped", name
    rule = report.check("discount_le_amount")
    assert rule.status == "skipped" and "amount.present" in rule.message


def test_type_mismatch_is_a_failed_type_check() -> None:
    df = _clean()
    df["amount"] = df["amount"].astype(str)
    df["customer_id"] = df["customer_id"].astype("float64")
    report = _run(df)
    amount_type = report.check("amount.type")
    assert amount_type.status == "failed"
    assert amount_type.message == "amount is large_string, expected float"
    assert report.check("amount.min").status == "skipped"  # min cannot apply to text
    assert report.check("amount.not_null").status == "passed"  # still meaningful
    assert report.check("customer_id.type").status == "failed"


def test_missing_columns_outside_the_column_list_are_errors() -> None:
    contract = Contract(
        name="c",
        unique=[["nope", "id"]],
        freshness=Freshness("stamp", "1d"),
        rules=[Rule("r", "amount_x > 0")],
    )
    report = validate(_clean(), contract, now=NOW)
    assert report.check("unique(nope, id)").status == "error"
    assert report.check("stamp.freshness").status == "error"
    rule = report.check("r")
    assert rule.status == "error" and "amount_x" in rule.message
    assert not report.passed


def test_optional_columns_may_be_absent() -> None:
    contract = Contract(name="c", columns={"maybe": Column(required=False, min=0)})
    report = validate(_clean(), contract)
    assert report.passed
    assert report.check("maybe.min").status == "skipped"


def test_row_count_bounds() -> None:
    assert _run(_clean(50)).check("row_count").status == "failed"
    contract = Contract(name="c", rows=RowCount(max=10))
    result = validate(_clean(), contract).check("row_count")
    assert result.status == "failed" and result.observed == {"rows": 1000}


def test_stale_timestamps_fail_freshness() -> None:
    df = _clean()
    df["ts"] = df["ts"] - pd.Timedelta(days=3)
    result = _run(df).check("ts.freshness")
    assert result.status == "failed"
    assert "3.5d old; the limit is 2.0d" in result.message
    assert result.observed["newest"] == "2024-05-29T00:00:00+00:00"


def test_freshness_of_dates_and_zoned_timestamps() -> None:
    df = pd.DataFrame(
        {
            "d": [dt.date(2024, 5, 31), dt.date(2024, 5, 1)],
            "z": pd.to_datetime(["2024-06-01T13:00:00+02:00", "2024-01-01T00:00:00+02:00"]),
        }
    )
    with pytest.raises(ContractError, match=r"freshness\[1\]: .* used twice .*freshness\[0\]"):
        Contract(
            name="c", freshness=[Freshness("z", "1d"), Freshness("z", "2h"), Freshness("z", "1h")]
        )
    contract = Contract(name="c", freshness=[Freshness("d", "2d"), Freshness("z", "2h")])
    report = validate(df, contract, now=NOW)
    assert report.check("d.freshness").status == "passed"  # 36 h after midnight of May 31
    z = report.check("z.freshness")
    assert z.status == "passed" and z.observed["age_seconds"] == 3600


def test_freshness_and_profile_of_nanosecond_timestamps() -> None:
    # pandas 2 makes datetime64[ns] (zoned or not) by default; DuckDB's epoch_us takes only
    # microsecond timestamps, so these are cast first.
    df = pd.DataFrame(
        {
            "z": pd.to_datetime(["2024-06-01T13:00:00+02:00", "2024-01-01T00:00:00+02:00"]),
            "n": pd.to_datetime(["2024-06-01T10:00:00", "2024-01-01T00:00:00"]),
        }
    ).astype({"z": "datetime64[ns, UTC]", "n": "datetime64[ns]"})
    contract = Contract(name="c", freshness=[Freshness("z", "2h"), Freshness("n", "2h")])
    report = validate(df, contract, now=NOW)
    assert report.check("z.freshness").observed["age_seconds"] == 3600
    assert report.check("n.freshness").observed["age_seconds"] == 2 * 3600
    profile = profile_dataset(df)
    assert [(c.min, c.max) for c in profile.columns] == [
        ("2023-12-31T22:00:00+00:00", "2024-06-01T11:00:00+00:00"),
        ("2024-01-01T00:00:00", "2024-06-01T10:00:00"),
    ]


def test_freshness_on_a_number_column_is_an_error() -> None:
    report = validate(_clean(), Contract(name="c", freshness=Freshness("amount", "1d")))
    assert report.check("amount.freshness").status == "error"


def test_rule_problems_are_that_rules_errors() -> None:
    df = _clean()
    df["code"] = ["1"] * 999 + ["x"]
    contract = Contract(
        name="c",
        columns={"amount": Column(min=0)},
        rules=[
            Rule("not_boolean", "amount + 1"),
            Rule("bad_cast", "CAST(code AS INTEGER) > 0"),
            Rule("fine", "amount >= 0"),
        ],
    )
    report = validate(df, contract)
    assert report.check("not_boolean").status == "error"
    assert "true or false" in report.check("not_boolean").message
    bad = report.check("bad_cast")
    assert bad.status == "error" and "failed while running" in bad.message
    assert report.check("fine").status == "passed"
    assert report.check("amount.min").status == "passed"


def test_hostile_column_names_and_rules() -> None:
    name = 'a"; DROP TABLE x; --'
    df = pd.DataFrame({name: [1, -1, 3], "b": [1, 1, 1]})
    contract = Contract(
        name="c",
        columns={name: Column(min=0, unique=True, nullable=False)},
        rules=[Rule("quoted", '"a""; DROP TABLE x; --" >= b -- trailing comment')],
    )
    report = validate(df, contract)
    assert report.check(f"{name}.min").failing_count == 1
    assert report.check(f"{name}.min").examples == [{name: -1, "b": 1}]
    assert report.check(f"{name}.unique").status == "passed"
    assert report.check("quoted").failing_count == 1


def test_rules_cannot_reach_files_or_python_objects(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "d.parquet")
    # Syntax that smuggles a table function in is refused when the contract is built ...
    with pytest.raises(Exception, match="not allowed"):
        Rule("r", f"(SELECT count(*) FROM read_csv('{secret}')) > 0")
    # ... and the connection cannot read files other than the data's own anyway.
    from mloop.data.engine import VIEW, Engine
    from mloop.data.sources import open_source

    with Engine(open_source(tmp_path / "d.parquet")) as engine:
        assert engine.one(f'SELECT sum(a) FROM "{VIEW}"') == (3,)
        with pytest.raises(Exception, match=r"disabled|Permission"):
            engine.one(f"SELECT * FROM read_csv('{secret}')")
        with pytest.raises(Exception, match=r"locked"):
            engine.one("SET enable_external_access = true")
        with pytest.raises(Exception, match="does not exist"):
            engine.one("SELECT * FROM secret")  # Python variables are not tables


def test_allowed_values_on_categoricals_and_booleans() -> None:
    df = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", "zz", None]),
            "flag": [True, False, True, None],
            "n": [1, 2, 3, 4],
        }
    )
    contract = Contract(
        name="c",
        columns={
            "cat": Column(type="string", allowed=["a", "b"], regex="^[ab]$"),
            "flag": Column(type="bool", allowed=[True]),
            "n": Column(allowed=[1, 2, 3]),
        },
    )
    report = validate(df, contract)
    assert report.check("cat.type").status == "passed"
    assert report.check("cat.allowed").failing_count == 1
    assert report.check("cat.regex").failing_count == 1
    assert report.check("flag.allowed").failing_count == 1
    assert report.check("n.allowed").failing_count == 1
    wrong = validate(df, Contract(name="c", columns={"n": Column(allowed=["1"])}))
    assert wrong.check("n.allowed").status == "error"


def test_temporal_bounds() -> None:
    df = _clean()
    contract = Contract(
        name="c",
        columns={
            "day": Column(min=dt.date(2024, 1, 2), max="2024-01-09"),
            "ts": Column(max=dt.datetime(2024, 5, 31, 23, 0)),
        },
    )
    report = validate(df, contract)
    assert report.check("day.min").failing_count == 100
    assert report.check("day.max").failing_count == 100
    assert report.check("ts.max").failing_count == 60  # the last hour: minutes 0..59


# -- distributions ----------------------------------------------------------------------


def test_population_stability_index_by_hand() -> None:
    # 50/50 -> 75/25: (0.25) ln(1.5) + (-0.25) ln(0.5)
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2.0)
    assert population_stability_index([50, 50], [75, 25]) == pytest.approx(expected)
    assert population_stability_index([1, 1], [1, 1]) == 0.0
    # an empty bin counts as a share of 1e-4
    assert population_stability_index([1, 0], [1, 1]) == pytest.approx(
        (0.5 - 1.0) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    )
    assert math.isnan(population_stability_index([0, 0], [1, 1]))


def test_categorical_psi_against_a_reference_profile() -> None:
    reference = profile_dataset(pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50}))
    current = pd.DataFrame({"c": ["a"] * 75 + ["b"] * 25})
    contract = Contract(name="c", distribution=[Distribution("c", psi_max=0.2)])
    result = validate(current, contract, reference).check("c.psi")
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2.0)  # the "other" bin is empty on both
    assert result.observed["psi"] == pytest.approx(expected)
    assert result.status == "failed"  # 0.2747 > 0.2
    same = validate(pd.DataFrame({"c": ["b", "a"] * 10}), contract, reference).check("c.psi")
    assert same.status == "passed" and same.observed["psi"] == pytest.approx(0.0)
    # a value the reference never saw goes to the "other" bin
    new = validate(pd.DataFrame({"c": ["a", "b", "z", "z"]}), contract, reference).check("c.psi")
    expected_new = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert new.observed["psi"] == pytest.approx(expected_new)


def test_numeric_psi_uses_the_reference_bins() -> None:
    ref_values = np.arange(100, dtype="float64")  # 20 bins of 5 values
    reference = profile_dataset(pd.DataFrame({"x": ref_values}))
    hist = reference.column("x").histogram
    assert hist is not None and sum(hist.counts) == 100
    # current: every value of the reference's first half twice; plus values beyond the range,
    # which land in the outer bins
    current = np.concatenate([ref_values[:50], ref_values[:50], [-10.0, 500.0]])
    contract = Contract(name="c", distribution=[Distribution("x", psi_max=0.1)])
    result = validate(pd.DataFrame({"x": current}), contract, reference).check("x.psi")
    edges = hist.edges
    actual = np.zeros(20)
    for v in current:
        i = int(np.searchsorted(edges[1:], v, side="left"))
        actual[min(i, 19)] += 1
    expected = population_stability_index(hist.counts, list(actual))
    assert result.observed["psi"] == pytest.approx(expected)
    assert result.status == "failed"


def test_mean_and_std_within_a_tolerance() -> None:
    reference = profile_dataset(pd.DataFrame({"x": [10.0, 20.0, 30.0]}))  # mean 20, std 10
    contract = Contract(name="c", distribution=[Distribution("x", mean_within=0.1, std_within=0.5)])
    ok = validate(pd.DataFrame({"x": [11.0, 21.0, 31.0]}), contract, reference)
    assert ok.check("x.mean").status == "passed"
    assert ok.check("x.mean").observed["relative_difference"] == pytest.approx(0.05)
    assert ok.check("x.std").status == "passed"
    shifted = validate(pd.DataFrame({"x": [15.0, 25.0, 35.0]}), contract, reference)
    assert shifted.check("x.mean").status == "failed"
    assert shifted.check("x.mean").observed["value"] == pytest.approx(25.0)


def test_distribution_checks_need_a_reference() -> None:
    contract = Contract(name="c", distribution=[Distribution("amount", mean_within=0.1)])
    result = validate(_clean(), contract).check("amount.mean")
    assert result.status == "error" and "reference" in result.message
    other = profile_dataset(pd.DataFrame({"z": [1.0]}))
    assert validate(_clean(), contract, other).check("amount.mean").status == "error"
    # the reference may be given as its stored dictionary
    ref = profile_dataset(_clean()).to_dict()
    assert validate(_clean(), contract, ref).check("amount.mean").status == "passed"


# -- custom checks ----------------------------------------------------------------------


def test_custom_checks_masks_counts_and_errors() -> None:
    @check(columns=["amount"])
    def amount_not_990(batch: pa.RecordBatch) -> pa.Array:
        """amount is never exactly 990"""
        return pc.not_equal(batch["amount"], 990.0)

    @check(name="few_us", severity="warn", batch_format="pandas")
    def few_us(frame: pd.DataFrame) -> int:
        return int((frame["country"] == "US").sum())

    @check
    def broken(batch: pa.RecordBatch) -> int:
        raise RuntimeError("boom")

    contract = Contract(name="c", custom=[amount_not_990, "few_us", broken, "amount_not_99"])
    report = validate(_clean(), contract)
    mask = report.check("amount_not_990")
    assert (mask.status, mask.failing_count) == ("failed", 10)
    assert mask.description == "amount is never exactly 990"
    assert len(mask.examples) == 5 and all(r["amount"] == 990.0 for r in mask.examples)
    few = report.check("few_us")
    assert (few.status, few.severity, few.failing_count) == ("failed", "warn", 333)
    assert report.check("broken").status == "error"
    assert "RuntimeError: boom" in report.check("broken").message
    unknown = report.check("amount_not_99")
    assert unknown.status == "error" and "did you mean 'amount_not_990'" in unknown.message


def test_custom_check_from_yaml_by_name() -> None:
    @check(name="ids_even_or_odd")
    def ids(batch: pa.RecordBatch) -> list[bool]:
        return [True] * batch.num_rows

    contract = parse_contract("contract: c\ncustom: [{name: ids_even_or_odd, severity: warn}]\n")
    result = validate(_clean(), contract).check("ids_even_or_odd")
    assert (result.status, result.severity) == ("passed", "warn")


# -- reports and sources ----------------------------------------------------------------


def test_report_json_and_junit() -> None:
    df = _clean()
    df.loc[3, "amount"] = -1.0
    df.loc[4, "email"] = "bad\x01"  # a control character must not break the XML
    report = _run(df)
    data = json.loads(report.to_json())
    assert data["passed"] is False
    assert data["summary"]["errors"] == 2 and data["summary"]["warnings"] == 1
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["amount.min"]["failing_count"] == 1
    assert by_name["amount.min"]["column"] == "amount"
    assert by_name["amount.min"]["examples"][0]["id"] == 3
    root = ET.fromstring(report.to_junit_xml())
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(report.checks))
    assert suite.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["amount.min"].find("failure") is not None
    assert cases["amount.max"].find("failure") is None
    email = cases["email.regex"]
    assert email.find("failure") is None
    out = email.find("system-out")
    assert out is not None and out.text is not None and out.text.startswith("WARNING:")
    assert "FAILED" in report.to_text() and "amount.min" in str(report)


def test_skipped_checks_in_junit() -> None:
    report = _run(_clean().drop(columns=["email"]))
    cases = {c.get("name"): c for c in ET.fromstring(report.to_junit_xml()).iter("testcase")}
    assert cases["email.regex"].find("skipped") is not None


def test_parquet_and_yaml_paths(tmp_path: Path) -> None:
    df = _clean()
    df.to_parquet(tmp_path / "orders.parquet")
    path = tmp_path / "orders.yaml"
    path.write_text(CONTRACT)
    report = validate(tmp_path / "orders.parquet", path, now=NOW)
    assert report.passed, report.to_text()
    assert report.source.startswith("parquet:")


def test_extra_columns() -> None:
    contract = Contract(name="c", columns={"id": Column()}, extra_columns="error")
    result = validate(_clean(), contract).check("extra_columns")
    assert result.status == "failed"
    assert result.observed["columns"][:2] == ["customer_id", "day"]


def test_large_parquet_validates_with_a_low_memory_limit(tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "id": np.arange(n),
            "v": rng.normal(size=n),
            "k": rng.choice(np.array(["a", "b", "c"]), n),
        }
    )
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=100_000)
    contract = Contract(
        name="big",
        columns={
            "id": Column(unique=True),
            "v": Column(min=-10, max=10),
            "k": Column(allowed=["a", "b", "c"]),
        },
        rows=RowCount(min=n),
    )
    report = validate(tmp_path / "big.parquet", contract, memory_limit="150MB", threads=2)
    assert report.passed, report.to_text()


def test_rules_with_lambdas_bind_against_the_data() -> None:
    df = pd.DataFrame({"xs": [[1, 2], [3, -1]], "a": [1, 2]})
    contract = Contract(
        name="c", rules=[Rule("all_positive", "list_bool_and(list_transform(xs, lambda x: x > 0))")]
    )
    result = validate(df, contract).check("all_positive")
    assert (result.status, result.failing_count) == ("failed", 1)
