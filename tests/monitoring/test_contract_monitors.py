"""Monitors with a data contract: each window is validated against the contract's
row-level checks (nulls, bounds, allowed values, patterns, SQL rules), and the share of
rows breaking each one is a metric alert rules read; the contract is a dataset's
registration policy or YAML given with the monitor, copied when the monitor is made."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.core.errors import NotFoundError, ValidationError
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 // HOUR * HOUR
CONTRACT = """
contract: payments
version: 3
columns:
  amount: {type: float64, min: 0, nullable: false}
  channel: {allowed: [web, store]}
  fee: {min: 0, severity: warn}
unique: [id]
rows: {min: 1000000}
rules:
  - name: fee_below_amount
    sql: fee <= amount
"""


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _payments(hours: int, rows: int) -> pd.DataFrame:
    """``rows`` payments an hour; in hour 2 a tenth have a negative amount and a twentieth
    come from a channel the contract does not allow."""
    rng = np.random.default_rng(5)
    parts = []
    for hour in range(hours):
        amount = rng.normal(100, 10, rows)
        channel = rng.choice(["web", "store"], rows).astype(object)
        if hour == 2:
            amount[: rows // 10] = -1.0
            channel[rows // 10 : rows // 10 + rows // 20] = "kiosk"
        parts.append(
            pd.DataFrame(
                {
                    "id": np.arange(rows),  # repeats every hour: uniqueness is not a window's
                    "at": T0 + hour * HOUR + np.arange(rows) * 1000,
                    "amount": amount,
                    "fee": np.full(rows, 2.0),
                    "channel": channel,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def payments(runtime: Runtime) -> pd.DataFrame:
    frame = _payments(3, 400)
    mloop.register_dataset("payments", frame)
    return frame


def _monitor(**fields: Any) -> Any:
    spec: dict[str, Any] = {
        "name": "payments-contract",
        "dataset": {"name": "payments", "time_column": "at"},
        "columns": {"amount": "number", "fee": "number", "channel": "category"},
        "reference": {"kind": "window", "since": T0, "until": T0 + HOUR},
        "contract": {"yaml": CONTRACT},
        "schedule": False,
        **fields,
    }
    return call("create_monitor", **spec)


def test_violation_rates_per_window(runtime: Runtime, payments: pd.DataFrame) -> None:
    monitor = _monitor()
    assert (monitor.contract.name, monitor.contract.version) == ("payments", "3")
    assert len(monitor.contract.digest) == 64
    clean, broken = call(
        "run_monitor", name="payments-contract", since=T0 + HOUR, until=T0 + 3 * HOUR
    ).windows
    assert clean.metrics["quality.contract.failed_checks"] == 0.0
    assert clean.metrics["quality.contract.max_share"] == 0.0
    m = broken.metrics
    assert m["quality.contract.check.amount.min.share"] == pytest.approx(0.1)
    assert m["quality.contract.check.channel.allowed.share"] == pytest.approx(0.05)
    # A negative amount is also below its fee of 2.
    assert m["quality.contract.check.fee_below_amount.share"] == pytest.approx(0.1)
    assert m["quality.contract.failed_checks"] == 3.0
    assert m["quality.contract.max_share"] == pytest.approx(0.1)
    report = call("get_monitor_window", name="payments-contract", start=broken.start).report
    checks = {c["name"]: c for c in report["contract"]["checks"]}
    # Whole-version checks are not a window's: no type, uniqueness or row count checks.
    assert not {"amount.type", "unique(id)", "row_count"} & set(checks)
    assert checks["amount.min"]["status"] == "failed"
    assert checks["amount.min"]["failing_count"] == 40
    assert checks["amount.min"]["examples"]  # failing rows to look at
    assert checks["fee.min"]["status"] == "passed"
    assert report["contract"]["rows"] == 400


def test_the_contract_of_a_dataset_policy(runtime: Runtime, payments: pd.DataFrame) -> None:
    call("set_dataset_policy", name="payments", contract_yaml=CONTRACT)
    monitor = _monitor(contract={"dataset": "payments"})
    assert monitor.contract.yaml == CONTRACT and monitor.contract.dataset == "payments"
    call(
        "create_alert_rule",
        name="bad-payments",
        source="monitor",
        metric="quality.contract.max_share",
        operator=">",
        threshold=0.01,
    )
    call("run_monitor", name="payments-contract", since=T0 + HOUR, until=T0 + 3 * HOUR)
    (alert,) = call("list_alerts").alerts
    assert alert.window_start == T0 + 2 * HOUR


def test_checks_of_columns_not_watched_are_skipped(
    runtime: Runtime, payments: pd.DataFrame
) -> None:
    _monitor(columns={"amount": "number"})
    (window,) = call(
        "run_monitor", name="payments-contract", since=T0 + 2 * HOUR, until=T0 + 3 * HOUR
    ).windows
    report = call("get_monitor_window", name="payments-contract", start=window.start).report
    checks = {c["name"]: c for c in report["contract"]["checks"]}
    assert checks["amount.min"]["status"] == "failed"
    assert checks["channel.allowed"]["status"] == "skipped"
    assert checks["fee_below_amount"]["status"] == "skipped"  # its rule reads fee
    assert window.metrics["quality.contract.check.amount.min.share"] == pytest.approx(0.1)


def test_bad_contracts_are_refused(runtime: Runtime, payments: pd.DataFrame) -> None:
    with pytest.raises(ValidationError) as raised:
        _monitor(contract={})
    assert raised.value.field == "contract" and "exactly one" in raised.value.message
    with pytest.raises(ValidationError) as raised:
        _monitor(contract={"yaml": "contract: x\ncolumns: {amount: {min: abc}}"})
    assert raised.value.field == "contract.yaml" and "does not parse" in raised.value.message
    with pytest.raises(ValidationError) as raised:
        _monitor(contract={"yaml": "contract: [unclosed"})
    assert raised.value.field == "contract.yaml"
    with pytest.raises(ValidationError) as raised:
        _monitor(contract={"dataset": "payments"})  # no policy
    assert (
        raised.value.field == "contract.dataset"
        and "no registration policy" in raised.value.message
    )
    with pytest.raises(NotFoundError):
        _monitor(contract={"dataset": "nope"})
    with pytest.raises(ValidationError) as raised:
        _monitor(contract={"yaml": "contract: other\ncolumns: {zip: {nullable: false}}"})
    assert raised.value.field == "contract" and "none of which" in raised.value.message
    with pytest.raises(ValidationError):
        _monitor(contract={"yaml": "x" * (1024 * 1024 + 1)})
    assert call("list_monitors").monitors == []
