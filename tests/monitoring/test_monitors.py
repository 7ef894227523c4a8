"""Monitors end to end: an endpoint's log written at chosen times (drifting in one window),
labels attached later, monitors with each kind of reference, windows computed on demand,
by backfill and by the scheduler, results stored, and alerts raised by rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import update

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring import tables
from mloop.monitoring.scheduler import MonitorScheduler
from mloop.monitoring.windows import read_window
from mloop.store.eventlog.inference import InferenceLog
from mloop.store.runtime import Runtime
from tests.monitoring.monitoring_testing import HOUR, T0, log_hour

ROWS = 300


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _frame(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, north: float = 0.5
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift, 10, n),
            "age": rng.normal(40, 12, n),
            "region": np.where(rng.random(n) < north, "north", "south"),
        }
    )


@pytest.fixture
def deployed(runtime: Runtime) -> LogisticRegression:
    rng = np.random.default_rng(0)
    train = _frame(rng, 2000)
    labels = (train["income"] + rng.normal(0, 5, len(train)) > 50).astype(int)
    features = train[["income", "age"]]
    model = LogisticRegression().fit(features, labels)
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=features.iloc[:5])
    mloop.register_model(info.model_uri, "credit")
    call("create_endpoint", name="credit-api")
    call("deploy", endpoint="credit-api", variants=[{"model": "credit", "version": 1}])
    return model


@pytest.fixture
def logged(runtime: Runtime, deployed: LogisticRegression) -> dict[int, list[str]]:
    """Hours 0-2 like training; hour 3: income shifted up and fewer from the north."""
    rng = np.random.default_rng(1)
    ids = {}
    for hour in range(4):
        frame = _frame(rng, ROWS, shift=25.0 if hour == 3 else 0.0, north=0.2 if hour == 3 else 0.5)
        ids[hour] = log_hour(runtime, deployed, hour, frame, ["income", "age"])
    return ids


def _monitor(**fields: Any) -> Any:
    spec = {
        "name": "credit-drift",
        "endpoint": "credit-api",
        "reference": {"kind": "window", "since": T0, "until": T0 + HOUR},
        "columns": {"income": "number", "age": "number", "region": "category"},
        "fairness": {"sensitive": ["region"], "min_group_size": 20},
        "schedule": False,
        **fields,
    }
    return call("create_monitor", **spec)


def test_drift_is_found_in_the_window_that_drifted(runtime: Runtime, logged: Any) -> None:
    monitor = _monitor()
    assert monitor.reference_rows == ROWS
    run = call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 4 * HOUR)
    assert [w.start for w in run.windows] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    drifted = {w.start: w.metrics["drift.column.income.drifted"] for w in run.windows}
    assert drifted == {T0 + HOUR: 0.0, T0 + 2 * HOUR: 0.0, T0 + 3 * HOUR: 1.0}
    assert run.windows[2].metrics["drift.column.age.drifted"] == 0.0
    # The prediction and confidence drift too (the shift moves the decisions).
    assert run.windows[2].metrics["drift.output.prediction.drifted"] == 1.0
    report = call("get_monitor_window", name="credit-drift", start=T0 + 3 * HOUR)
    income = next(c for c in report.report["drift"]["columns"] if c["column"] == "income")
    assert income["effect"]["direction"] == "up"  # income moved up by 25, 2.5 reference stds
    assert report.report["reference"]["rows"] == ROWS
    listed = call("list_monitor_windows", name="credit-drift")
    assert [w.start for w in listed.windows] == [T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + HOUR]


def test_quality_outputs_and_fairness_figures(runtime: Runtime, logged: Any) -> None:
    _monitor(review_threshold=0.6)
    (window,) = call(
        "run_monitor", name="credit-drift", since=T0 + 3 * HOUR, until=T0 + 4 * HOUR
    ).windows
    m = window.metrics
    assert m["volume.rows"] == ROWS
    assert m["quality.missing.income"] == 0.0
    assert m["quality.out_of_range.income"] > 0.05  # shifted values beyond the reference max
    assert 0 <= m["output.review_share"] <= 1
    north = m["fairness.region.north.selection_rate"]
    south = m["fairness.region.south.selection_rate"]
    assert north is not None and south is not None
    assert "fairness.region.demographic_parity_ratio" in m


def test_performance_once_labels_arrive(runtime: Runtime, logged: dict[int, list[str]]) -> None:
    _monitor()
    log = InferenceLog(runtime)
    log.attach_labels([(request_id, i % 2) for i, request_id in enumerate(logged[2])])
    (window,) = call(
        "run_monitor", name="credit-drift", since=T0 + 2 * HOUR, until=T0 + 3 * HOUR
    ).windows
    assert window.metrics["performance.labelled"] == ROWS
    assert 0 <= window.metrics["performance.accuracy"] <= 1
    assert (
        window.metrics["performance.roc_auc"] is not None
    )  # probabilities and classes were logged


def test_an_alert_rule_fires_on_the_drifted_window(runtime: Runtime, logged: Any) -> None:
    call(
        "create_alert_rule",
        name="income-drift",
        source="monitor",
        metric="drift.column.income.drifted",
        kind="threshold",
        operator=">=",
        threshold=1,
        severity="warning",
    )
    _monitor()
    run = call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 4 * HOUR)
    assert [w.alerts for w in run.windows] == [0, 0, 1]
    alerts = call("list_alerts").alerts
    assert len(alerts) == 1 and alerts[0].subject["monitor"] == "credit-drift"
    assert alerts[0].links["window"] == f"/monitors/credit-drift?window={T0 + 3 * HOUR}"


def test_a_rolling_reference_builds_itself_from_earlier_windows(
    runtime: Runtime, logged: Any
) -> None:
    _monitor(name="credit-rolling", reference={"kind": "rolling", "windows": 2})
    run = call("run_monitor", name="credit-rolling", since=T0, until=T0 + 4 * HOUR)
    first, second, third, fourth = run.windows
    assert third.metrics["drift.column.income.drifted"] == 0.0
    assert "drift.share" not in first.metrics  # nothing before it to compare with
    assert second.metrics["drift.column.income.drifted"] == 0.0
    assert fourth.metrics["drift.column.income.drifted"] == 1.0
    assert fourth.metrics["volume.change"] == pytest.approx(0.0)


def test_the_scheduler_computes_closed_windows_once(runtime: Runtime, logged: Any) -> None:
    _monitor(schedule=True, delay_seconds=60)
    # As if created during hour 1: the schedule starts with that hour's window.
    runtime.run(
        lambda ctx: ctx.conn.execute(update(tables.monitors).values(creation_time=T0 + HOUR)),
        write=True,
    )
    scheduler = MonitorScheduler(runtime, interval_s=1)
    # Hour 2 closed 30 s ago, under the 60 s allowed for late events: only hour 1 is due.
    assert scheduler.run_once(now=T0 + 3 * HOUR + 30_000) == 1
    assert scheduler.run_once(now=T0 + 3 * HOUR + 30_000) == 0
    assert scheduler.run_once(now=T0 + 4 * HOUR + 61_000) == 2
    starts = [w.start for w in call("list_monitor_windows", name="credit-drift").windows]
    assert starts == [T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + HOUR]


def test_bad_monitors_are_refused_naming_the_field(runtime: Runtime, deployed: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        _monitor(reference={"kind": "window", "since": T0})
    assert raised.value.field == "reference.until"
    with pytest.raises(ValidationError) as raised:
        _monitor(reference={"kind": "rolling"})
    assert raised.value.field == "reference.windows"
    with pytest.raises(ValidationError) as raised:
        _monitor(columns={"prediction": "number"})
    assert raised.value.field == "columns.prediction"
    with pytest.raises(ValidationError) as raised:  # a window with no traffic
        _monitor()
    assert "logged no successful request" in raised.value.message
    with pytest.raises(NotFoundError):
        _monitor(endpoint="nope", reference={"kind": "rolling", "windows": 3})
    with pytest.raises(NotFoundError):
        call("run_monitor", name="nope")


def test_columns_default_to_the_live_models_signature(runtime: Runtime, deployed: Any) -> None:
    monitor = call(
        "create_monitor",
        name="credit-sig",
        endpoint="credit-api",
        reference={"kind": "rolling", "windows": 3},
    )
    assert monitor.columns == {"income": "number", "age": "number"}


def test_deleting_a_monitor_needs_nothing_else_and_removes_its_windows(
    runtime: Runtime, logged: Any
) -> None:
    _monitor()
    call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 2 * HOUR)
    call("delete_monitor", name="credit-drift")
    with pytest.raises(NotFoundError):
        call("list_monitor_windows", name="credit-drift")


def test_performance_is_estimated_before_labels_from_a_labelled_reference(
    runtime: Runtime, logged: dict[int, list[str]]
) -> None:
    """A window reference with labels calibrates a CBPE estimator; a window like it gets an
    estimate whose band holds the accuracy its labels later show."""
    rng = np.random.default_rng(5)
    labels = []
    for hour in (0, 1):  # outcomes drawn from the model's own probabilities: calibrated
        window = read_window(
            runtime,
            "credit-api",
            since=T0 + hour * HOUR,
            until=T0 + (hour + 1) * HOUR,
            features={"income": "number"},
        )
        ids = window.column("request_id").to_pylist()
        probabilities = window.column("probabilities").to_pylist()
        labels += [(i, int(rng.random() < p[1])) for i, p in zip(ids, probabilities, strict=True)]
    InferenceLog(runtime).attach_labels(labels)
    _monitor(reference={"kind": "window", "since": T0, "until": T0 + HOUR})
    run = call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 2 * HOUR)
    metrics = run.windows[0].metrics
    assert metrics["estimated.accuracy"] is not None
    report = call("get_monitor_window", name="credit-drift", start=T0 + HOUR).report
    band = report["estimated_performance"]["metrics"]["accuracy"]
    assert band["low"] <= metrics["performance.accuracy"] <= band["high"]


def test_the_multivariate_test_is_opt_in(runtime: Runtime, logged: Any) -> None:
    _monitor(drift={"multivariate": True})
    run = call("run_monitor", name="credit-drift", since=T0 + 2 * HOUR, until=T0 + 4 * HOUR)
    same, shifted = run.windows
    assert same.metrics["drift.multivariate.auc"] < shifted.metrics["drift.multivariate.auc"]
    report = call("get_monitor_window", name="credit-drift", start=T0 + 3 * HOUR).report
    assert report["drift"]["multivariate"]["drifted"] is True
    assert report["drift"]["multivariate"]["top_columns"][0][0] == "income"


def test_a_backfill_judges_alerts_at_the_windows_times(runtime: Runtime, logged: Any) -> None:
    """Alerts of a backfill are judged at each window's end, so their times (and the rules'
    cool-downs, which the alerts tests cover with ``now``) follow the windows, not the
    seconds the backfill took."""
    call(
        "create_alert_rule",
        name="lots-of-rows",
        source="monitor",
        metric="volume.rows",
        operator=">=",
        threshold=ROWS,
    )
    _monitor()
    run = call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 4 * HOUR)
    assert [w.alerts for w in run.windows] == [1, 1, 1]  # one series, folded
    (alert,) = call("list_alerts").alerts
    assert alert.count == 3
    assert (alert.first_seen, alert.last_seen) == (T0 + 2 * HOUR, T0 + 4 * HOUR)


def test_performance_and_group_rates_have_intervals(
    runtime: Runtime, logged: dict[int, list[str]]
) -> None:
    InferenceLog(runtime).attach_labels([(i, n % 2) for n, i in enumerate(logged[2])])
    _monitor(intervals=50)
    call("run_monitor", name="credit-drift", since=T0 + 2 * HOUR, until=T0 + 3 * HOUR)
    report = call("get_monitor_window", name="credit-drift", start=T0 + 2 * HOUR).report
    accuracy = report["performance"]["metrics"]["accuracy"]
    assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]
    (region,) = report["fairness"]["attributes"]
    rate = region["groups"][0]["rates"]["selection_rate"]
    assert rate["low"] <= rate["value"] <= rate["high"]
    _monitor(name="no-intervals", intervals=0)
    call("run_monitor", name="no-intervals", since=T0 + 2 * HOUR, until=T0 + 3 * HOUR)
    plain = call("get_monitor_window", name="no-intervals", start=T0 + 2 * HOUR).report
    assert "low" not in plain["performance"]["metrics"]["accuracy"]


def test_a_contract_checks_the_endpoints_inputs_per_window(runtime: Runtime, logged: Any) -> None:
    contract = "contract: credit-inputs\ncolumns:\n  income: {min: 0, max: 70}\n  age: {min: 18}\n"
    _monitor(contract={"yaml": contract})
    run = call("run_monitor", name="credit-drift", since=T0 + 2 * HOUR, until=T0 + 4 * HOUR)
    calm, drifted = run.windows
    # Income is normal(50, 10), then shifted by 25: far more rows above 70 in hour 3.
    assert calm.metrics["quality.contract.check.income.max.share"] < 0.05
    assert drifted.metrics["quality.contract.check.income.max.share"] > 0.3
    assert "quality.contract.check.age.min.share" in drifted.metrics


def test_a_scored_held_out_dataset_calibrates_the_estimate(
    runtime: Runtime, logged: dict[int, list[str]], deployed: LogisticRegression
) -> None:
    """A held-out set with the model's probabilities and its outcomes, registered as a
    dataset, is a reference that estimates performance before labels, and whose own
    figures are reference values."""
    rng = np.random.default_rng(6)
    held_out = _frame(rng, 1500)
    proba = deployed.predict_proba(held_out[["income", "age"]])
    held_out["p_no"], held_out["p_yes"] = proba[:, 0], proba[:, 1]
    held_out["repaid"] = (rng.random(len(held_out)) < proba[:, 1]).astype(int)  # calibrated
    mloop.register_dataset("credit-holdout", held_out)
    reference = {
        "kind": "dataset",
        "dataset": "credit-holdout",
        "label_column": "repaid",
        "classes": [0, 1],
        "probability_columns": ["p_no", "p_yes"],
    }
    monitor = _monitor(reference=reference)
    assert monitor.reference.version == 1
    # Hour 1's outcomes, drawn the same way, are what the estimate should expect.
    window = read_window(
        runtime, "credit-api", since=T0 + HOUR, until=T0 + 2 * HOUR, features={"income": "number"}
    )
    probabilities = window.column("probabilities").to_pylist()
    ids = window.column("request_id").to_pylist()
    labels = [(i, int(rng.random() < p[1])) for i, p in zip(ids, probabilities, strict=True)]
    InferenceLog(runtime).attach_labels(labels)
    (hour,) = call("run_monitor", name="credit-drift", since=T0 + HOUR, until=T0 + 2 * HOUR).windows
    report = call("get_monitor_window", name="credit-drift", start=T0 + HOUR).report
    band = report["estimated_performance"]["metrics"]["accuracy"]
    assert band["low"] <= hour.metrics["performance.accuracy"] <= band["high"]
    assert report["reference"]["source"] == "dataset credit-holdout version 1, scored"
    stored = mloop.Client().call("get_monitor", name="credit-drift")
    assert stored.reference_rows == 1500


def test_bad_scored_references_are_refused(runtime: Runtime, deployed: Any) -> None:
    frame = _frame(np.random.default_rng(7), 50).assign(p0=0.5, p1=0.5, y=1)
    mloop.register_dataset("tiny-holdout", frame)
    scored = {"kind": "dataset", "dataset": "tiny-holdout", "label_column": "y"}
    cases = [
        ({**scored}, "reference.label_column", "together"),
        (
            {**scored, "classes": [0, 1, 2], "probability_columns": ["p0", "p1"]},
            "reference.probability_columns",
            "one probability column per class",
        ),
        (
            {**scored, "classes": [1, 1], "probability_columns": ["p0", "p1"]},
            "reference.classes",
            "twice",
        ),
        (
            {**scored, "classes": [0, 1], "probability_columns": ["p0", "nope"]},
            "reference.probability_columns",
            "no column 'nope'",
        ),
        (
            {**scored, "classes": [0, 1], "probability_columns": ["p0", "p1"]},
            "reference.label_column",
            "fewer than 100",
        ),
        (
            {"kind": "window", "since": T0, "until": T0 + HOUR, "label_column": "y"},
            "reference.label_column",
            "kind dataset",
        ),
    ]
    for reference, field, words in cases:
        with pytest.raises(ValidationError) as raised:
            _monitor(reference=reference)
        assert raised.value.field == field and words in raised.value.message, reference
    assert call("list_monitors").monitors == []


def test_performance_per_slice(runtime: Runtime, logged: dict[int, list[str]]) -> None:
    """Each value of a slice column gets its own performance in each window, computed the
    same way as the whole window's."""
    _monitor(performance={"slices": ["region"]})
    window = read_window(
        runtime,
        "credit-api",
        since=T0 + 2 * HOUR,
        until=T0 + 3 * HOUR,
        features={"region": "category"},
    )
    ids = window.column("request_id").to_pylist()
    regions = window.column("region").to_pylist()
    predictions = window.column("prediction").to_pylist()
    # Labels agree with the prediction in the north, disagree in the south.
    labels = [
        (i, int(p) if r == "north" else 1 - int(p))
        for i, r, p in zip(ids, regions, predictions, strict=True)
    ]
    InferenceLog(runtime).attach_labels(labels)
    (hour,) = call(
        "run_monitor", name="credit-drift", since=T0 + 2 * HOUR, until=T0 + 3 * HOUR
    ).windows
    m = hour.metrics
    assert m["performance.slice.region.north.accuracy"] == 1.0
    assert m["performance.slice.region.south.accuracy"] == 0.0
    north, south = regions.count("north"), regions.count("south")
    assert m["performance.slice.region.north.labelled"] == north
    assert m["performance.slice.region.south.labelled"] == south
    assert m["performance.accuracy"] == pytest.approx(north / (north + south))
    report = call("get_monitor_window", name="credit-drift", start=hour.start).report
    sliced = report["performance_by_slice"]["region"]
    assert [s["value"] for s in sliced["slices"]] == sorted(
        ["north", "south"], key=lambda v: -regions.count(v)
    )
    assert sliced["left_out"] == 0
