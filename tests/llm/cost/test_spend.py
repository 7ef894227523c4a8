"""Spend and cache statistics from the call log, on the test database (SQLite, or
PostgreSQL with MLOOP_TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.calls.tables import llm_calls
from mloop.llm.cost.budgets import BudgetGuard, spend_spike
from mloop.llm.cost.config import BudgetConfig
from mloop.llm.cost.spend import (
    cache_stats,
    current_spend,
    daily_spend,
    daily_totals,
    spend_by_scope,
)
from mloop.llm.errors import GatewayError
from mloop.store.context import Context
from mloop.store.runtime import Runtime


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = _ms("2026-11-22T15:00:00")


def _call(at: str, cost: float, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "time": _ms(at),
        "endpoint": "chat",
        "route": "support-reply",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "requested_model": "support-reply",
        "token_name": "alice",
        "project": "default",
        "status": "ok",
        "http_status": 200,
        "cost_usd": cost,
        "cost_exact": str(cost),
        "input_tokens": 100,
        "output_tokens": 20,
        "latency_ms": 12.0,
        "cache": "miss",
        "saved_usd": 0.0,
    }
    row.update(fields)
    return row


def _insert(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    def write(ctx: Context) -> None:
        ctx.conn.execute(llm_calls.insert(), rows)

    runtime.run(write, write=True)


@pytest.fixture
def calls(runtime: Runtime) -> Runtime:
    _insert(
        runtime,
        [
            _call("2026-11-20T10:00:00", 1.0),
            _call("2026-11-21T23:59:59", 2.0, token_name="bob"),
            _call("2026-11-22T00:00:00", 3.0),
            _call("2026-11-22T09:00:00", 4.0, route=None, requested_model="anthropic/claude"),
            _call("2026-11-22T09:30:00", 0.5, provider="anthropic", model="claude", project="x"),
            _call("2026-11-22T10:00:00", 0.0, cache="exact", saved_usd=0.25),
            _call("2026-11-22T10:01:00", 0.0, cache="semantic", saved_usd=0.5),
            _call("2026-11-22T10:02:00", 0.0, cache="bypass"),
            _call("2026-11-22T10:03:00", 0.0, cache="off", route="other"),
            _call("2026-11-01T00:00:00", 10.0),
            _call("2026-10-31T23:59:59", 100.0),
            _call("2026-11-23T00:00:01", 1000.0),  # after "now": never counted
        ],
    )
    return runtime


def test_spend_by_scope(calls: Runtime) -> None:
    spend = calls.run(lambda ctx: spend_by_scope(ctx, _ms("2026-11-22T00:00:00"), NOW), write=False)
    assert spend == {
        ("route", "support-reply"): pytest.approx(3.5),
        ("token", "alice"): pytest.approx(7.5),
        ("project", "default"): pytest.approx(7.0),
        ("project", "x"): pytest.approx(0.5),
    }


def test_current_spend_loads_a_guard(calls: Runtime) -> None:
    guard = BudgetGuard(
        [
            BudgetConfig(scope="token", limit_usd=Decimal("7")),
            BudgetConfig(scope="route", limit_usd=Decimal("2000"), period="monthly"),
        ],
        clock=lambda: NOW / 1000,
    )
    spend = calls.run(lambda ctx: current_spend(ctx, guard.windows()), write=False)
    assert spend[("daily", "token", "alice")] == pytest.approx(7.5 + 1000)
    guard.load(spend)
    with pytest.raises(GatewayError, match="token 'alice'"):
        guard.check("support-reply", "alice", "default")
    assert guard.spent("route", "support-reply", "monthly") == pytest.approx(1016.5)


def test_daily_spend_totals_and_grouping(calls: Runtime) -> None:
    rows = calls.run(lambda ctx: daily_spend(ctx, 3, now_ms=NOW), write=False)
    assert [(r.day, r.cost_usd, r.calls) for r in rows] == [
        ("2026-11-20", 1.0, 1),
        ("2026-11-21", 2.0, 1),
        ("2026-11-22", 7.5, 7),
    ]
    assert rows[-1].input_tokens == 700 and rows[-1].output_tokens == 140

    by_route = calls.run(lambda ctx: daily_spend(ctx, 1, "route", now_ms=NOW), write=False)
    assert [(r.key, r.cost_usd) for r in by_route] == [
        (None, 4.0),
        ("support-reply", 3.5),
        ("other", 0.0),
    ]
    by_model = calls.run(lambda ctx: daily_spend(ctx, 1, "model", now_ms=NOW), write=False)
    assert {r.key: r.cost_usd for r in by_model} == {
        "openai/gpt-4o-mini": 7.0,
        "anthropic/claude": 0.5,
    }
    by_token = calls.run(lambda ctx: daily_spend(ctx, 2, "token", now_ms=NOW), write=False)
    assert [(r.day, r.key) for r in by_token] == [("2026-11-21", "bob"), ("2026-11-22", "alice")]


def test_daily_totals_feed_spike_detection(calls: Runtime) -> None:
    totals = calls.run(lambda ctx: daily_totals(ctx, 8, now_ms=NOW), write=False)
    assert totals == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 7.5]
    assert spend_spike(totals).is_spike  # 7.5 against an average of 3/7


def test_cache_stats(calls: Runtime) -> None:
    (today,) = calls.run(lambda ctx: cache_stats(ctx, 1, now_ms=NOW), write=False)
    assert (today.day, today.calls) == ("2026-11-22", 7)
    assert (today.exact_hits, today.semantic_hits, today.misses) == (1, 1, 3)
    assert (today.bypassed, today.uncached) == (1, 1)
    assert today.saved_usd == pytest.approx(0.75)
    assert today.hit_rate == pytest.approx(2 / 5)
    assert today.to_dict()["hit_rate"] == pytest.approx(0.4)
    by_route = calls.run(lambda ctx: cache_stats(ctx, 1, "route", now_ms=NOW), write=False)
    other = next(r for r in by_route if r.key == "other")
    assert (other.calls, other.uncached, other.hit_rate) == (1, 1, 0.0)


def test_empty_log_and_bad_arguments(runtime: Runtime) -> None:
    assert runtime.run(lambda ctx: daily_spend(ctx, 7, now_ms=NOW), write=False) == []
    assert runtime.run(lambda ctx: daily_totals(ctx, 3, now_ms=NOW), write=False) == [0.0] * 3
    assert runtime.run(lambda ctx: cache_stats(ctx, 7, now_ms=NOW), write=False) == []
    with pytest.raises(ValidationError) as info:
        runtime.run(lambda ctx: daily_spend(ctx, 0), write=False)
    assert info.value.field == "days"
    with pytest.raises(ValidationError) as info:
        runtime.run(lambda ctx: daily_spend(ctx, 7, "user; DROP TABLE x"), write=False)  # type: ignore[arg-type]
    assert info.value.field == "group_by"
