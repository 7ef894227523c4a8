"""Spend for budgets and spike detection, read from the call log (on the test database:
SQLite, or PostgreSQL with MLOOP_TEST_DATABASE_URL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.llm.conftest import NOW

from mloop.core.errors import ValidationError
from mloop.llm.cost.budgets import BudgetGuard, spend_spike
from mloop.llm.cost.config import BudgetConfig
from mloop.llm.cost.spend import current_spend, daily_totals
from mloop.llm.errors import BudgetExceededError
from mloop.store.runtime import Runtime


def test_current_spend_loads_a_guard(call_log: Runtime) -> None:
    guard = BudgetGuard(
        [
            BudgetConfig(scope="token", limit_usd=Decimal("7")),
            BudgetConfig(scope="route", limit_usd=Decimal("2000"), period="monthly"),
        ],
        clock=lambda: NOW / 1000,
    )
    spend = call_log.run(lambda ctx: current_spend(ctx, guard.windows()), write=False)
    assert spend[("daily", "token", "alice")] == pytest.approx(7.5 + 1000)
    guard.load(spend)
    with pytest.raises(BudgetExceededError, match="token 'alice'"):
        guard.check("support-reply", "alice", "default")
    assert guard.spent("route", "support-reply", "monthly") == pytest.approx(1016.5)


def test_daily_totals_feed_spike_detection(call_log: Runtime) -> None:
    totals = call_log.run(lambda ctx: daily_totals(ctx, 8, now_ms=NOW), write=False)
    assert totals == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 7.5]
    assert spend_spike(totals).is_spike  # 7.5 against an average of 3/7


def test_daily_totals_of_an_empty_log_and_a_bad_day_count(runtime: Runtime) -> None:
    assert runtime.run(lambda ctx: daily_totals(ctx, 3, now_ms=NOW), write=False) == [0.0] * 3
    with pytest.raises(ValidationError) as info:
        runtime.run(lambda ctx: daily_totals(ctx, 0, now_ms=NOW), write=False)
    assert info.value.field == "days"
