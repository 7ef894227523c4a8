"""The gateway's spend spike as an ordinary alert rule: its metrics, the default rule raising
and resolving on them, and the server's background check."""

from __future__ import annotations

import math
import uuid

import pytest
from tests.alerts.alerts_testing import wait_until
from tests.conftest import ServerHandle
from tests.llm.conftest import NOW, insert_calls, ms, sample_call

from mloop.alerts.history import open_alerts
from mloop.alerts.spend import SPIKE_METRIC, check_spend, spend_metrics
from mloop.core.timeutil import now_ms
from mloop.store.runtime import Runtime


def test_spend_metrics() -> None:
    week = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 2.0]
    metrics = spend_metrics([*week, 8.0])
    assert metrics["gateway.spend.today_usd"] == 8.0
    assert metrics["gateway.spend.trailing_average_usd"] == pytest.approx(2.0)
    assert metrics[SPIKE_METRIC] == pytest.approx(4.0)
    # Under a dollar today never counts; after a week without spend, any dollar does.
    assert spend_metrics([*week, 0.9])[SPIKE_METRIC] == 0.0
    assert math.isinf(spend_metrics([0.0] * 7 + [1.5])[SPIKE_METRIC])
    assert spend_metrics([0.0] * 8)[SPIKE_METRIC] == 0.0
    with pytest.raises(ValueError, match="the 7 days before"):
        spend_metrics([1.0, 2.0])


def test_the_default_rule_raises_and_resolves_on_the_spend(runtime: Runtime) -> None:
    insert_calls(
        runtime,
        [
            sample_call("2026-11-20T10:00:00", 1.0),
            sample_call("2026-11-21T10:00:00", 2.0),
            sample_call("2026-11-22T09:00:00", 7.5),  # "today" at NOW: 17.5x the week's 3/7
        ],
    )
    [alert] = check_spend(runtime, now=NOW)
    assert (alert.rule, alert.source, alert.metric, alert.severity) == (
        "gateway-spend-spike",
        "gateway",
        SPIKE_METRIC,
        "warning",
    )
    assert alert.value == pytest.approx(17.5)
    assert alert.links == {"gateway": "/gateway"}
    assert alert.window_start == ms("2026-11-22T00:00:00")
    # Later the same day: the same window again, folded into the same alert.
    [again] = check_spend(runtime, now=NOW + 3600_000)
    assert again.id == alert.id and again.count == 2
    # The next day has spent nothing yet: no spike, and the alert resolves on its own.
    assert check_spend(runtime, now=ms("2026-11-23T08:00:00")) == []
    assert runtime.run(lambda ctx: open_alerts(ctx, source="gateway"), write=False) == []


def test_a_quiet_gateway_raises_nothing(runtime: Runtime) -> None:
    assert check_spend(runtime, now=NOW) == []


def test_the_server_checks_the_spend_when_it_starts(runtime: Runtime) -> None:
    # Today's calls after a week without any: a spike the server's first check catches.
    now = now_ms()
    insert_calls(
        runtime,
        [{**sample_call("2026-01-01T00:00:00", 4.0), "id": uuid.uuid4().hex, "time": now}],
    )
    handle = ServerHandle(runtime).start()
    try:
        found = wait_until(
            lambda: runtime.run(lambda ctx: open_alerts(ctx, source="gateway"), write=False)
        )
    finally:
        handle.stop()
    assert found[0].rule == "gateway-spend-spike" and math.isinf(found[0].value or 0)
