"""A/B analysis against scipy and published values on known data, and ground truth attached
by request id: one at a time, in bulk, from CSV and Parquet files with bad rows named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from tests.serving.rollout_testing import traffic
from tests.serving.serving_testing import call, variant

from mloop.core.errors import NotFoundError, ValidationError
from mloop.serving.ab import mean_difference, newcombe, two_proportion_p, wilson
from mloop.serving.labels import read_label_file
from mloop.store.eventlog.inference import InferenceLog
from mloop.store.runtime import Runtime

S = 1000


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17, table II, example (a): 56/70 vs 48/80.
    ci = newcombe(56, 70, 48, 80)
    assert ci is not None
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.0524, 0.3339)


def test_proportion_tests_agree_with_scipy() -> None:
    # The two-proportion z-test (pooled) by hand, against the chi-square p-value used.
    k1, n1, k2, n2 = 45, 100, 30, 100
    pooled = (k1 + k2) / (n1 + n2)
    z = (k1 / n1 - k2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert two_proportion_p(k1, n1, k2, n2) == pytest.approx(2 * stats.norm.sf(abs(z)))
    interval = wilson(45, 100)
    assert interval is not None
    expected = stats.binomtest(45, 100).proportion_ci(method="wilson")
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high))
    assert two_proportion_p(0, 10, 0, 12) == 1.0


def test_welch_difference_agrees_with_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 80), rng.normal(9, 3, 120)
    found = mean_difference("latency_mean_ms", a, b, 0.95)
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert found.p_value == pytest.approx(reference.pvalue)
    assert found.ci is not None
    ci = reference.confidence_interval()
    assert (found.ci.low, found.ci.high) == pytest.approx((ci.low, ci.high))
    assert found.difference == pytest.approx(a.mean() - b.mean())
    assert found.significant == (reference.pvalue < 0.05)


@pytest.fixture
def ab_endpoint(runtime: Runtime, models: dict[str, Any]) -> dict[str, list[str]]:
    """churn-api: v1 stable (accuracy 56/70, fast) and v2 candidate (48/80, slower), with
    labels for all; the request ids by version."""
    call("create_endpoint", name="churn-api")
    call(
        "deploy",
        endpoint="churn-api",
        strategy="canary",
        variants=[variant("churn", version=1), variant("churn", version=2, weight=50)],
    )
    start = 1_700_000_000_000
    v1 = traffic(
        runtime,
        "churn-api",
        "stable",
        1,
        start=start,
        count=70,
        prediction=lambda i: 1,
        latency_ms=lambda i: 2.0 + (i % 7) / 10,
    )
    v2 = traffic(
        runtime,
        "churn-api",
        "candidate",
        2,
        start=start,
        count=82,
        prediction=lambda i: 1,
        latency_ms=lambda i: 3.0 + (i % 5) / 10,
        status=lambda i: "error" if i >= 80 else "ok",
    )
    labels = [{"request_id": r, "label": 1 if i < 56 else 0} for i, r in enumerate(v1)]
    labels += [{"request_id": r, "label": 1 if i < 48 else 0} for i, r in enumerate(v2[:80])]
    attached = call("attach_labels", endpoint="churn-api", labels=labels)
    assert (attached.stored, attached.unmatched) == (150, 0)
    return {"v1": v1, "v2": v2}


def test_compare_variants_on_outcomes_latency_and_errors(
    ab_endpoint: dict[str, list[str]],
) -> None:
    found = call(
        "compare_variants", endpoint="churn-api", since=1_699_999_000_000, until=1_700_001_000_000
    )
    assert found.metric == "accuracy"
    base = found.baseline
    assert (base.version, base.requests, base.labelled, base.errors) == (1, 70, 70, 0)
    assert base.metric_value == pytest.approx(56 / 70)
    [other] = found.others
    v2 = other.version
    assert (v2.version, v2.variants, v2.requests, v2.errors, v2.labelled) == (
        2,
        ["candidate"],
        82,
        2,
        80,
    )
    assert v2.metric_value == pytest.approx(0.6)
    assert v2.metric_ci is not None and v2.metric_ci.low == pytest.approx(
        stats.binomtest(48, 80).proportion_ci(method="wilson").low
    )
    by = {d.measure: d for d in other.differences}
    accuracy = by["accuracy"]
    assert accuracy.difference == pytest.approx(48 / 80 - 56 / 70)
    # The published interval, mirrored (v2 minus v1).
    assert accuracy.ci is not None
    assert (round(accuracy.ci.low, 4), round(accuracy.ci.high, 4)) == (-0.3339, -0.0524)
    assert accuracy.p_value == pytest.approx(
        stats.chi2_contingency([[48, 32], [56, 14]], correction=False).pvalue
    )
    assert accuracy.significant
    latency = by["latency_mean_ms"]
    assert latency.significant and latency.difference == pytest.approx(1.0, abs=0.1)
    errors = by["error_rate"]
    assert errors.difference == pytest.approx(2 / 82)
    assert not errors.significant


def test_compare_refuses_an_empty_period_and_unknown_endpoints(models: dict[str, Any]) -> None:
    call("create_endpoint", name="churn-api")
    empty = call("compare_variants", endpoint="churn-api")
    assert empty.baseline is None and empty.others == []
    with pytest.raises(ValidationError, match="since must be before until") as caught:
        call("compare_variants", endpoint="churn-api", since=10, until=5)
    assert caught.value.field == "since"
    with pytest.raises(NotFoundError):
        call("compare_variants", endpoint="nope")


def _labels_read(runtime: Runtime) -> dict[str, Any]:
    table = InferenceLog(runtime).read_labeled(endpoints=["churn-api"], columns=["request_id"])
    return {r["request_id"]: r["label"] for r in table.to_pylist() if r["label"] is not None}


def test_labels_one_at_a_time_and_unmatched_ids(runtime: Runtime, models: dict[str, Any]) -> None:
    call("create_endpoint", name="churn-api")
    [rid] = traffic(runtime, "churn-api", "stable", 1, start=1_700_000_000_000, count=1)
    one = call("attach_labels", endpoint="churn-api", labels=[{"request_id": rid, "label": 1}])
    assert (one.stored, one.unmatched) == (1, 0)
    other = call(
        "attach_labels",
        endpoint="churn-api",
        labels=[{"request_id": "not-logged", "label": "x"}],
        origin="crm",
    )
    assert (other.stored, other.unmatched, other.unmatched_examples) == (1, 1, ["not-logged"])
    assert _labels_read(runtime) == {rid: "1"}
    with pytest.raises(ValidationError) as caught:
        call(
            "attach_labels",
            endpoint="churn-api",
            labels=[{"request_id": rid, "label": 0}, {"request_id": rid, "label": None}],
        )
    assert caught.value.field == "labels[1].label"
    assert _labels_read(runtime) == {rid: "1"}  # nothing of the bad batch stored
    with pytest.raises(NotFoundError):
        call("attach_labels", endpoint="nope", labels=[{"request_id": rid, "label": 1}])


def test_label_files_csv_and_parquet(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,label,time\nr1,1,1700000000000\nr2,0,\n")
    assert read_label_file(csv) == [
        {"request_id": "r1", "label": 1, "time": 1700000000000},
        {"request_id": "r2", "label": 0},
    ]
    parquet = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"request_id": ["r1", "r2"], "label": [2.5, 3.0]}), parquet)
    assert read_label_file(parquet) == [
        {"request_id": "r1", "label": 2.5},
        {"request_id": "r2", "label": 3.0},
    ]


def test_label_files_with_bad_rows_name_them_and_store_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text("request_id,label\nr1,1\n,1\nr3,\nr4,0\n")
    with pytest.raises(ValidationError) as caught:
        read_label_file(bad)
    assert caught.value.field == "file"
    assert "2 bad rows, nothing stored: line 3: request_id is empty; line 4: label is empty" in (
        caught.value.message
    )
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,label\nr1,1\n")
    with pytest.raises(ValidationError, match="it needs request_id and label"):
        read_label_file(wrong)
    parquet = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"request_id": ["r1", None], "label": [1, 2]}), parquet)
    with pytest.raises(ValidationError, match="row 2: request_id is empty"):
        read_label_file(parquet)
    with pytest.raises(ValidationError, match="is not a file"):
        read_label_file(tmp_path / "missing.csv")
