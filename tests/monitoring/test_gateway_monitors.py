"""Monitors of the LLM gateway's call log: a window is the calls that arrived in it (of one
route, prompt, model or project, or all); their latency, tokens, cost, status and model
drift against a stretch of earlier calls, and the window's call statistics (error rate,
latency percentiles, cost, cache hits) are metrics alert rules read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mloop
from mloop.core.errors import ValidationError
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 // HOUR * HOUR


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _calls(
    hour: int, count: int, *, route: str = "support", slow: bool = False
) -> list[CallRecord]:
    """``count`` calls in the ``hour``-th hour: from hour 3 on (``slow``), latency doubles,
    a fifth fail and another model answers."""
    rng = np.random.default_rng(hour)
    records = []
    for i in range(count):
        failed = slow and i % 5 == 0
        records.append(
            CallRecord(
                id=f"{route}-{hour}-{i:05d}",
                time=T0 + hour * HOUR + i * 1000,
                endpoint="chat",
                requested_model=route,
                route=route,
                model="small-b" if slow else "small-a",
                provider="fake",
                status="error" if failed else "ok",
                http_status=502 if failed else 200,
                latency_ms=float(rng.normal(800 if slow else 400, 40)),
                input_tokens=int(rng.integers(100, 200)),
                output_tokens=int(rng.integers(20, 60)),
                cost_usd=0.001,
                cache="exact" if i % 10 == 0 else "miss",
                metadata={"segment": "trial" if i % 2 else "paid", "score": i % 7},
            )
        )
    return records


@pytest.fixture
def calls(runtime: Runtime) -> None:
    records = [r for hour in range(4) for r in _calls(hour, 200, slow=hour == 3)]
    records += _calls(0, 50, route="other")
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)


def _monitor(**fields: Any) -> Any:
    spec: dict[str, Any] = {
        "name": "support-calls",
        "gateway": {"route": "support"},
        "reference": {"kind": "window", "since": T0, "until": T0 + HOUR},
        "schedule": False,
        **fields,
    }
    return call("create_monitor", **spec)


def test_a_route_drifts_when_its_calls_slow_down(runtime: Runtime, calls: None) -> None:
    monitor = _monitor()
    assert monitor.target == "gateway" and monitor.endpoint is None
    assert monitor.columns["latency_ms"] == "number" and monitor.columns["model"] == "category"
    assert monitor.reference_rows == 200  # the route's calls only, not the other route's
    run = call("run_monitor", name="support-calls", since=T0 + HOUR, until=T0 + 4 * HOUR)
    calm, _, slow = run.windows
    assert calm.rows == slow.rows == 200
    assert calm.metrics["drift.column.latency_ms.drifted"] == 0.0
    assert slow.metrics["drift.column.latency_ms.drifted"] == 1.0
    assert slow.metrics["drift.column.model.drifted"] == 1.0
    assert calm.metrics["gateway.error_rate"] == 0.0
    assert slow.metrics["gateway.error_rate"] == pytest.approx(0.2)
    assert slow.metrics["gateway.latency.p50"] > 1.5 * calm.metrics["gateway.latency.p50"]
    assert calm.metrics["gateway.cache_hit_rate"] == pytest.approx(0.1)
    assert calm.metrics["gateway.cost_usd"] == pytest.approx(0.2)
    assert calm.metrics["gateway.calls"] == 200.0
    report = call("get_monitor_window", name="support-calls", start=slow.start).report
    assert report["gateway"]["statuses"] == {"error": 40, "ok": 160}
    assert report["reference"]["source"].startswith("the gateway's calls (route support)")


def test_metadata_keys_are_columns(runtime: Runtime, calls: None) -> None:
    _monitor(columns={"segment": "category", "score": "number", "latency_ms": "number"})
    (window,) = call(
        "run_monitor", name="support-calls", since=T0 + HOUR, until=T0 + 2 * HOUR
    ).windows
    assert window.metrics["drift.column.segment.drifted"] == 0.0
    assert "drift.column.score.score" in window.metrics
    report = call("get_monitor_window", name="support-calls", start=window.start).report
    assert report["quality"]["segment"]["missing"] == 0.0


def test_alert_rules_read_call_statistics(runtime: Runtime, calls: None) -> None:
    call(
        "create_alert_rule",
        name="support-errors",
        source="monitor",
        metric="gateway.error_rate",
        operator=">",
        threshold=0.05,
    )
    call(
        "create_alert_rule",
        name="support-slower",
        source="monitor",
        metric="gateway.latency.p95",
        operator=">",
        kind="change",
        threshold=0.5,
    )
    _monitor()
    call("run_monitor", name="support-calls", since=T0 + HOUR, until=T0 + 4 * HOUR)
    alerts = call("list_alerts").alerts
    assert sorted(a.rule for a in alerts) == ["support-errors", "support-slower"]
    assert all(a.window_start == T0 + 3 * HOUR for a in alerts)
    assert alerts[0].subject == {
        "monitor": "support-calls",
        "gateway": "route support",
        "route": "support",
    }


def test_all_calls_and_listing_by_target(runtime: Runtime, calls: None) -> None:
    _monitor(name="all-calls", gateway={}, reference={"kind": "rolling", "windows": 2})
    (first,) = call("run_monitor", name="all-calls", since=T0, until=T0 + HOUR).windows
    assert first.rows == 250  # both routes
    assert [m.name for m in call("list_monitors", target="gateway").monitors] == ["all-calls"]
    assert call("list_monitors", target="endpoint").monitors == []


def test_bad_gateway_monitors(runtime: Runtime, calls: None) -> None:
    with pytest.raises(ValidationError) as raised:
        _monitor(endpoint="churn")
    assert raised.value.field == "endpoint" and "exactly one" in raised.value.message
    with pytest.raises(ValidationError) as raised:
        _monitor(reference={"kind": "dataset", "dataset": "calls"})
    assert raised.value.field == "reference.kind"
    with pytest.raises(ValidationError) as raised:
        _monitor(fairness={"sensitive": ["segment"]})
    assert raised.value.field == "fairness"
    with pytest.raises(ValidationError) as raised:
        _monitor(reference={"kind": "window", "since": T0 + 10 * HOUR, "until": T0 + 11 * HOUR})
    assert "no rows" in raised.value.message
    with pytest.raises(ValidationError):
        _monitor(gateway={"route": "x" * 300})


def test_windows_are_read_page_by_page(
    runtime: Runtime, calls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mloop.monitoring import gateway_windows

    _monitor()
    (whole,) = call(
        "run_monitor", name="support-calls", since=T0 + 3 * HOUR, until=T0 + 4 * HOUR
    ).windows
    monkeypatch.setattr(gateway_windows, "BATCH_ROWS", 7)  # 200 calls: 29 pages, the last short
    (paged,) = call(
        "run_monitor", name="support-calls", since=T0 + 3 * HOUR, until=T0 + 4 * HOUR
    ).windows
    assert paged.rows == whole.rows == 200
    assert paged.metrics == pytest.approx(whole.metrics)


def test_a_window_without_calls_is_judged_too(runtime: Runtime, calls: None) -> None:
    """No calls at all is what a rule on gateway.calls (or volume.rows) is for."""
    call(
        "create_alert_rule",
        name="support-silent",
        source="monitor",
        metric="gateway.calls",
        operator="<",
        threshold=1,
    )
    _monitor()
    (silent,) = call(
        "run_monitor", name="support-calls", since=T0 + 5 * HOUR, until=T0 + 6 * HOUR
    ).windows
    assert silent.status == "empty" and silent.metrics["gateway.calls"] == 0.0
    assert silent.alerts == 1
    report = call("get_monitor_window", name="support-calls", start=silent.start).report
    assert report["gateway"]["calls"] == 0 and "drift" not in report
    (busy,) = call(
        "run_monitor", name="support-calls", since=T0 + HOUR, until=T0 + 2 * HOUR
    ).windows
    drifted = [n for n in busy.metrics if n.startswith("drift.output.")]
    assert drifted == []  # calls have no prediction or confidence to drift
