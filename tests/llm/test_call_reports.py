"""Spend and cache reports over the call log, on the test database (SQLite, or PostgreSQL
with MLOOP_TEST_DATABASE_URL)."""

from __future__ import annotations

import pytest
from tests.llm.conftest import NOW, ms

from mloop.core.errors import ValidationError
from mloop.llm.calls.reports import cache_stats, daily_spend, spend_by_scope
from mloop.store.runtime import Runtime


def test_spend_by_scope(call_log: Runtime) -> None:
    spend = call_log.run(
        lambda ctx: spend_by_scope(ctx, ms("2026-11-22T00:00:00"), NOW), write=False
    )
    assert spend == {
        ("route", "support-reply"): pytest.approx(3.5),
        ("token", "alice"): pytest.approx(7.5),
        ("project", "default"): pytest.approx(7.0),
        ("project", "x"): pytest.approx(0.5),
    }


def test_daily_spend_totals_and_grouping(call_log: Runtime) -> None:
    rows = call_log.run(lambda ctx: daily_spend(ctx, 3, now_ms=NOW), write=False)
    assert [(r.day, r.cost_usd, r.calls) for r in rows] == [
        ("2026-11-20", 1.0, 1),
        ("2026-11-21", 2.0, 1),
        ("2026-11-22", 7.5, 7),
    ]
    assert rows[-1].input_tokens == 700 and rows[-1].output_tokens == 140

    by_route = call_log.run(lambda ctx: daily_spend(ctx, 1, "route", now_ms=NOW), write=False)
    assert [(r.key, r.cost_usd) for r in by_route] == [
        (None, 4.0),
        ("support-reply", 3.5),
        ("other", 0.0),
    ]
    by_model = call_log.run(lambda ctx: daily_spend(ctx, 1, "model", now_ms=NOW), write=False)
    assert {r.key: r.cost_usd for r in by_model} == {
        "openai/gpt-4o-mini": 7.0,
        "anthropic/claude": 0.5,
    }
    by_token = call_log.run(lambda ctx: daily_spend(ctx, 2, "token", now_ms=NOW), write=False)
    assert [(r.day, r.key) for r in by_token] == [("2026-11-21", "bob"), ("2026-11-22", "alice")]


def test_cache_stats(call_log: Runtime) -> None:
    (today,) = call_log.run(lambda ctx: cache_stats(ctx, 1, now_ms=NOW), write=False)
    assert (today.day, today.calls) == ("2026-11-22", 7)
    assert (today.exact_hits, today.semantic_hits, today.misses) == (1, 1, 3)
    assert (today.bypassed, today.uncached) == (1, 1)
    assert today.saved_usd == pytest.approx(0.75)
    assert today.hit_rate == pytest.approx(2 / 5)
    assert today.to_dict()["hit_rate"] == pytest.approx(0.4)
    by_route = call_log.run(lambda ctx: cache_stats(ctx, 1, "route", now_ms=NOW), write=False)
    other = next(r for r in by_route if r.key == "other")
    assert (other.calls, other.uncached, other.hit_rate) == (1, 1, 0.0)


def test_empty_log_and_bad_arguments(runtime: Runtime) -> None:
    assert runtime.run(lambda ctx: daily_spend(ctx, 7, now_ms=NOW), write=False) == []
    assert runtime.run(lambda ctx: cache_stats(ctx, 7, now_ms=NOW), write=False) == []
    with pytest.raises(ValidationError) as info:
        runtime.run(lambda ctx: daily_spend(ctx, 0), write=False)
    assert info.value.field == "days"
    with pytest.raises(ValidationError) as info:
        runtime.run(lambda ctx: daily_spend(ctx, 7, "user; DROP TABLE x"), write=False)  # type: ignore[arg-type]
    assert info.value.field == "group_by"
