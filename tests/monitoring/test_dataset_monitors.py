"""Monitors of a dataset by event time: windows are the rows of the dataset's version whose
time falls in them, compared with another dataset version or a stretch of the same table;
scored predictions and outcomes in the table give performance and fairness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 // HOUR * HOUR


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _scored(hours: int, rows: int, *, shift_from: int) -> pd.DataFrame:
    """Scored applications, ``rows`` an hour; amounts rise from hour ``shift_from``."""
    rng = np.random.default_rng(3)
    parts = []
    for hour in range(hours):
        amount = rng.normal(100 + (60 if hour >= shift_from else 0), 20, rows)
        parts.append(
            pd.DataFrame(
                {
                    "at": pd.to_datetime(
                        T0 + hour * HOUR + np.arange(rows) * 1000, unit="ms", utc=True
                    ),
                    "amount": amount,
                    "channel": rng.choice(["web", "store"], rows),
                    "approved": (amount + rng.normal(0, 10, rows) < 130).astype(int),
                    "repaid": (rng.random(rows) < 0.8).astype(int),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def scored(runtime: Runtime) -> pd.DataFrame:
    frame = _scored(4, 300, shift_from=3)
    mloop.register_dataset("scores", frame)
    mloop.register_dataset(
        "scores-train", frame[frame["at"] < datetime.fromtimestamp((T0 + HOUR) / 1000, UTC)]
    )
    return frame


def _monitor(**fields: Any) -> Any:
    spec: dict[str, Any] = {
        "name": "scores-hourly",
        "dataset": {
            "name": "scores",
            "time_column": "at",
            "prediction_column": "approved",
            "label_column": "repaid",
        },
        "reference": {"kind": "dataset", "dataset": "scores-train"},
        "fairness": {"sensitive": ["channel"], "min_group_size": 20},
        "schedule": False,
        **fields,
    }
    return call("create_monitor", **spec)


def test_windows_by_event_time_find_the_shift(runtime: Runtime, scored: pd.DataFrame) -> None:
    monitor = _monitor()
    assert monitor.endpoint is None and monitor.dataset.name == "scores"
    assert monitor.columns == {"amount": "number", "channel": "category"}  # by default
    assert monitor.reference.version == 1  # pinned when the monitor was made
    run = call("run_monitor", name="scores-hourly", since=T0, until=T0 + 4 * HOUR)
    assert [w.rows for w in run.windows] == [300, 300, 300, 300]
    drifted = [w.metrics["drift.column.amount.drifted"] for w in run.windows]
    assert drifted == [0.0, 0.0, 0.0, 1.0]
    last = run.windows[3].metrics
    assert last["performance.labelled"] == 300 and 0 <= last["performance.accuracy"] <= 1
    assert "fairness.channel.demographic_parity_ratio" in last


def test_a_window_reference_of_the_same_table(runtime: Runtime, scored: pd.DataFrame) -> None:
    _monitor(reference={"kind": "window", "since": T0, "until": T0 + HOUR})
    run = call("run_monitor", name="scores-hourly", since=T0 + HOUR, until=T0 + 4 * HOUR)
    assert [w.metrics["drift.column.amount.drifted"] for w in run.windows] == [0.0, 0.0, 1.0]
    # The stored prediction shares are the reference values of change rules.
    assert run.windows[0].metrics["output.prediction.1.share"] > 0


def test_alerts_name_the_dataset(runtime: Runtime, scored: pd.DataFrame) -> None:
    call(
        "create_alert_rule",
        name="amount-drift",
        source="monitor",
        metric="drift.column.amount.drifted",
        operator=">=",
        threshold=1,
    )
    _monitor()
    call("run_monitor", name="scores-hourly", since=T0, until=T0 + 4 * HOUR)
    (alert,) = call("list_alerts").alerts
    assert alert.subject == {"monitor": "scores-hourly", "dataset": "scores"}
    assert [m.name for m in call("list_monitors", dataset="scores").monitors] == ["scores-hourly"]


def test_bad_dataset_targets(runtime: Runtime, scored: pd.DataFrame) -> None:
    with pytest.raises(ValidationError) as raised:
        _monitor(endpoint="also-an-endpoint")
    assert raised.value.field == "endpoint" and "exactly one" in raised.value.message
    with pytest.raises(NotFoundError):
        _monitor(dataset={"name": "nope", "time_column": "at"})
    _monitor(name="bad-time", dataset={"name": "scores", "time_column": "channel"})
    (window,) = call("run_monitor", name="bad-time", since=T0, until=T0 + HOUR).windows
    assert window.status == "failed" and "timestamp or integer" in (window.error or "")
    _monitor(name="no-column", dataset={"name": "scores", "time_column": "when"})
    (window,) = call("run_monitor", name="no-column", since=T0, until=T0 + HOUR).windows
    assert window.status == "failed" and "no column 'when'" in (window.error or "")


def test_the_monitor_pages_link_the_dataset(runtime: Runtime, scored: pd.DataFrame) -> None:
    from fastapi.testclient import TestClient

    from mloop.server.app import create_app

    _monitor()
    call("run_monitor", name="scores-hourly", since=T0, until=T0 + 4 * HOUR)
    with TestClient(create_app(runtime)) as client:
        page = client.get("/monitors/scores-hourly")
        listing = client.get("/monitors")
    assert page.status_code == 200 and listing.status_code == 200
    assert 'href="/datasets/scores" id="dataset-link"' in page.text
    assert 'href="/datasets/scores-train/1"' in page.text  # the pinned reference version
    assert (
        '<span class="mo-target">dataset</span> <a href="/datasets/scores">scores</a>'
        in listing.text
    )


def test_a_dataset_reference_from_its_stored_profile(
    runtime: Runtime, scored: pd.DataFrame
) -> None:
    """Nothing but the stored profile is read; the coarser reference still finds the shift."""
    monitor = _monitor(
        reference={"kind": "dataset", "dataset": "scores-train", "profile": True},
        columns={"amount": "number", "channel": "category"},
    )
    assert monitor.reference_rows == 300
    run = call("run_monitor", name="scores-hourly", since=T0, until=T0 + 4 * HOUR)
    assert [w.metrics["drift.column.amount.drifted"] for w in run.windows] == [0.0, 0.0, 0.0, 1.0]
    report = call("get_monitor_window", name="scores-hourly", start=T0).report
    assert "stored profile" in report["reference"]["source"]
