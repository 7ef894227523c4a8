"""Dataset-level drift: the automatic choice, overrides, FDR, the verdict, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring import drift
from mloop.monitoring.drift.summary import DataSummary


def frame(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "income": rng.lognormal(10 + shift, 0.5, n),
            "age": rng.normal(40 + 10 * shift, 12, n),
            "plan": rng.choice(
                ["free", "pro", "team"], n, p=[0.6 - shift / 2, 0.3, 0.1 + shift / 2]
            ),
            "churned": rng.random(n) < 0.2 + shift / 4,
            "rating": rng.integers(1, 4, n),  # three values
            "prediction": rng.random(n) + shift / 3,  # a model output is a column like any
        }
    )


def summarize(data: pa.Table) -> DataSummary:
    return drift.summarize(data, seed=0)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            800,
            {
                "income": "ks",
                "age": "ks",
                "plan": "chisquare",
                "churned": "z",
                "rating": "chisquare",
                "prediction": "ks",
            },
        ),
        (
            5_000,
            {
                "income": "wasserstein",
                "age": "wasserstein",
                "plan": "jensenshannon",
                "churned": "jensenshannon",
                "rating": "jensenshannon",
                "prediction": "wasserstein",
            },
        ),
    ],
)
def test_automatic_choice_follows_size_type_and_cardinality(
    rows: int, expected: dict[str, str]
) -> None:
    report = drift.compare(summarize(frame(rows, 1)), summarize(frame(rows, 2)))
    assert {c.column: c.method for c in report.columns} == expected
    assert all(c.chosen == "auto" for c in report.columns)
    assert "reference values" in report.column("income").reason


def test_two_valued_numbers_get_the_z_test_on_small_references() -> None:
    ref = drift.summarize(pa.table({"b": np.r_[np.zeros(300), np.ones(200)]}))
    cur = drift.summarize(pa.table({"b": np.r_[np.zeros(250), np.ones(250)]}))
    assert drift.compare(ref, cur).column("b").method == "z"


def test_shifted_columns_drift_with_effect_and_direction() -> None:
    reference = summarize(frame(20_000, 1))
    report = drift.detect_drift(reference, frame(20_000, 2, shift=0.4))
    assert set(report.drifted_columns) >= {"income", "age", "plan", "prediction"}
    assert report.dataset_drift and report.drifted_share >= 0.5
    age = report.column("age")
    assert age.effect is not None and age.effect.measure == "mean_shift"
    assert age.effect.direction == "up" and 0.25 < age.effect.size < 0.42  # +4 years / 12
    plan = report.column("plan")
    assert plan.effect is not None and plan.effect.category in {"free", "team"}
    assert plan.effect.unit == "share points"
    calm = drift.detect_drift(reference, frame(20_000, 3))
    assert calm.drifted_columns == [] and not calm.dataset_drift


def test_overrides_per_column_per_kind_and_thresholds() -> None:
    reference, current = summarize(frame(5_000, 1)), summarize(frame(5_000, 2, shift=0.05))
    report = drift.compare(
        reference,
        current,
        methods={"age": "ks", "plan": "chisquare"},
        thresholds={"age": 0.01, "income": 0.5},
        numeric_method="psi",
        categorical_method="psi",
        method_thresholds={"psi": 0.2},
    )
    age, plan, income, churned = (report.column(n) for n in ("age", "plan", "income", "churned"))
    assert (age.method, age.threshold, age.chosen) == ("ks", 0.01, "override")
    assert (plan.method, plan.threshold) == ("chisquare", 0.05)
    assert (income.method, income.threshold) == ("psi", 0.5)
    assert (churned.method, churned.threshold) == ("psi", 0.2)


def test_fdr_adjusts_p_values_with_benjamini_hochberg() -> None:
    reference, current = summarize(frame(600, 1)), summarize(frame(600, 2, shift=0.1))
    raw = drift.compare(reference, current, fdr=False)
    adjusted = drift.compare(reference, current)
    tests = [c for c in raw.columns if c.p_value is not None]
    assert len(tests) == 6
    expected = stats.false_discovery_control([c.p_value for c in tests], method="bh")
    got = [adjusted.column(c.column).adjusted_p_value or 0.0 for c in tests]
    np.testing.assert_allclose(got, expected)
    for column in adjusted.columns:
        assert column.adjusted_p_value is not None and column.threshold is not None
        assert column.drifted == (column.adjusted_p_value < column.threshold)
    assert all(c.adjusted_p_value is None for c in raw.columns)
    assert len(adjusted.drifted_columns) <= len(raw.drifted_columns)


def test_drift_share_sets_the_dataset_verdict() -> None:
    reference = summarize(frame(5_000, 1))
    current = drift.summarize(frame(5_000, 2).set_column(1, "age", pa.array(np.full(5_000, 90.0))))
    report = drift.compare(reference, current)
    assert report.drifted_columns == ["age"]
    assert not report.dataset_drift
    assert drift.compare(reference, current, drift_share=1 / 6).dataset_drift


def test_report_is_json_and_progress_is_reported() -> None:
    calls: list[tuple[int, int | None]] = []
    report = drift.detect_drift(
        summarize(frame(3_000, 1)),
        frame(3_000, 2),
        batch_rows=1_000,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1_000, 3_000), (2_000, 3_000), (3_000, 3_000)]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["columns"][0]["column"] == "income" and "effect" in data["columns"][0]


def test_nan_and_infinities_are_left_out_and_counted() -> None:
    rng = np.random.default_rng(3)
    clean = rng.normal(0, 1, 2_000)
    dirty = clean.copy()
    dirty[:100] = np.nan
    dirty[100:150] = np.inf
    reference = drift.summarize(pa.table({"v": clean}))
    report = drift.detect_drift(reference, pa.table({"v": dirty}))
    v = report.column("v")
    assert v.tested and v.current_count == 1_850
    assert v.effect is not None and v.effect.details["current_missing_share"] == 0.075


def test_column_without_values_is_reported_untested() -> None:
    reference = drift.summarize(pa.table({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}))
    current = drift.summarize(
        pa.table({"a": [1.0, 2.0, 2.5], "b": pa.array([None] * 3, pa.float64())})
    )
    report = drift.compare(reference, current)
    b = report.column("b")
    assert (
        not b.tested and not b.drifted and "no non-null values in the current (3 rows)" in b.reason
    )
    assert [c.column for c in report.tested] == ["a"]


def test_bad_input_gets_clear_errors() -> None:
    reference, current = summarize(frame(1_000, 1)), summarize(frame(1_000, 2))
    empty = drift.summarize(frame(1_000, 1).slice(0, 0))
    with pytest.raises(ValidationError, match="reference summary is empty"):
        drift.compare(empty, current)
    with pytest.raises(ValidationError, match="current data is empty"):
        drift.compare(reference, empty)
    with pytest.raises(ValidationError, match="'age' is in the reference but missing"):
        drift.compare(reference, drift.summarize(frame(1_000, 2).drop(["age"])))
    with pytest.raises(NotFoundError, match="no column 'age'"):
        drift.detect_drift(reference, frame(1_000, 2).drop(["age"]))
    retyped = frame(1_000, 2).set_column(2, "plan", pa.array(np.arange(1_000.0)))
    with pytest.raises(ValidationError, match="'plan' is categorical in the reference but numeric"):
        drift.compare(reference, drift.summarize(retyped))
    with pytest.raises(ValidationError, match=r"unknown drift method 'kss' .*did you mean 'ks'"):
        drift.compare(reference, current, methods={"age": "kss"})
    with pytest.raises(ValidationError, match="ks compares numbers and cannot test categorical"):
        drift.compare(reference, current, methods={"plan": "ks"})
    with pytest.raises(ValidationError, match=r"threshold 1.5 for column 'age' \(ks\) is out"):
        drift.compare(reference, current, methods={"age": "ks"}, thresholds={"age": 1.5})
    with pytest.raises(ValidationError, match=r"threshold -0.1 .*a distance above 0"):
        drift.compare(
            reference, current, methods={"income": "wasserstein"}, thresholds={"income": -0.1}
        )
    with pytest.raises(ValidationError, match=r"at most 0\.8326"):
        drift.compare(
            reference, current, methods={"plan": "jensenshannon"}, thresholds={"plan": 0.9}
        )
    with pytest.raises(ValidationError, match="drift_share"):
        drift.compare(reference, current, drift_share=0)
    with pytest.raises(ValidationError, match="thresholds names column 'nope'"):
        drift.compare(reference, current, thresholds={"nope": 0.1})
    with pytest.raises(ValidationError, match="unknown method 'k'"):
        drift.compare(reference, current, method_thresholds={"k": 0.1})
