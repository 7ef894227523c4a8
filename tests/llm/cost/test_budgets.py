"""Budgets: block and alert, daily and monthly windows, loading, Redis-shared counters,
and spend spikes."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from pydantic import ValidationError as PydanticError
from tests.conftest import port_open, require_service

from mloop.llm.config import GatewayConfig
from mloop.llm.cost.budgets import (
    BudgetGuard,
    RedisBudgetCounters,
    spend_spike,
    window_of,
)
from mloop.llm.cost.config import BudgetConfig
from mloop.llm.errors import BudgetExceededError, GatewayError

URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def _at(text: str) -> Clock:
    return Clock(datetime.fromisoformat(text).replace(tzinfo=UTC))


def test_block_budget_refuses_once_spent_with_a_useful_message() -> None:
    clock = _at("2026-11-22T18:00:00")
    guard = BudgetGuard(
        [BudgetConfig(scope="route", key="support-reply", limit_usd=Decimal("10"))], clock=clock
    )
    assert guard.check("support-reply", "tok", "default") == []
    guard.record("support-reply", "tok", "default", 9.99)
    guard.check("support-reply", "tok", "default")  # still under
    guard.record("support-reply", "tok", "default", 0.02)
    with pytest.raises(GatewayError) as info:
        guard.check("support-reply", "tok", "default")
    err = info.value
    assert isinstance(err, BudgetExceededError)
    assert (err.code, err.http_status, err.field) == ("BUDGET_EXCEEDED", 429, "route")
    assert "daily budget of route 'support-reply'" in err.message
    assert "$10.0100 spent of $10" in err.message
    assert "resets at 2026-11-23T00:00:00Z" in err.message
    assert err.retry_after == pytest.approx(6 * 3600)
    # other routes are not affected
    guard.check("other-route", "tok", "default")


def test_daily_window_rolls_over_at_midnight_utc() -> None:
    clock = _at("2026-11-22T23:59:00")
    guard = BudgetGuard([BudgetConfig(scope="token", limit_usd=Decimal("1"))], clock=clock)
    guard.record(None, "alice", "p", 1.5)
    with pytest.raises(
        GatewayError, match=r"daily budget of token 'alice' reached: \$1\.5000 spent of \$1;"
    ):
        guard.check(None, "alice", "p")
    clock.now += 120
    assert guard.check(None, "alice", "p") == []
    assert guard.spent("token", "alice", "daily") == 0


def test_monthly_window_and_star_key_per_key() -> None:
    clock = _at("2026-12-31T12:00:00")
    guard = BudgetGuard(
        [BudgetConfig(scope="project", key="*", limit_usd=Decimal("100"), period="monthly")],
        clock=clock,
    )
    guard.record(None, "t", "team-a", 60)
    guard.record(None, "t", "team-b", 60)
    guard.check(None, "t", "team-a")  # each project has its own 100
    guard.record(None, "t", "team-a", 40)
    with pytest.raises(GatewayError, match="monthly budget of project 'team-a'") as info:
        guard.check(None, "t", "team-a")
    assert "resets at 2027-01-01T00:00:00Z" in info.value.message
    guard.check(None, "t", "team-b")
    clock.now += 13 * 3600  # 2027-01-01 01:00
    guard.check(None, "t", "team-a")


def test_alert_budget_returns_alerts_first_only_once_and_lets_requests_through() -> None:
    clock = _at("2026-11-22T10:00:00")
    budget = BudgetConfig(scope="token", key="alice", limit_usd=Decimal("5"), action="alert")
    guard = BudgetGuard([budget], clock=clock)
    guard.record("r", "alice", "p", 5)
    first = guard.check("r", "alice", "p")
    assert len(first) == 1 and first[0].first
    assert first[0].budget == budget and first[0].key == "alice"
    assert first[0].spent_usd == 5 and first[0].limit_usd == 5
    assert "daily budget of token 'alice'" in first[0].message
    again = guard.check("r", "alice", "p")
    assert len(again) == 1 and not again[0].first
    assert guard.check("r", "bob", "p") == []
    clock.now += 86400
    guard.record("r", "alice", "p", 6)
    assert guard.check("r", "alice", "p")[0].first  # a new window alerts again


def test_one_call_counts_once_per_window_even_with_overlapping_budgets() -> None:
    clock = _at("2026-11-22T10:00:00")
    guard = BudgetGuard(
        [
            BudgetConfig(scope="route", key="*", limit_usd=Decimal("10")),
            BudgetConfig(scope="route", key="r", limit_usd=Decimal("3"), action="alert"),
            BudgetConfig(scope="route", key="r", limit_usd=Decimal("100"), period="monthly"),
        ],
        clock=clock,
    )
    guard.record("r", "t", "p", 2.5)
    assert guard.spent("route", "r", "daily") == 2.5
    assert guard.spent("route", "r", "monthly") == 2.5
    guard.record("r", "t", "p", 1)
    alerts = guard.check("r", "t", "p")
    assert [a.limit_usd for a in alerts] == [3.0]


def test_block_wins_over_alerts_and_missing_scopes_are_skipped() -> None:
    guard = BudgetGuard(
        [
            BudgetConfig(scope="project", limit_usd=Decimal("1"), action="alert"),
            BudgetConfig(scope="route", limit_usd=Decimal("1")),
        ],
        clock=_at("2026-11-22T10:00:00"),
    )
    guard.record("r", "t", "p", 2)
    with pytest.raises(GatewayError, match="daily budget of route 'r' reached"):
        guard.check("r", "t", "p")
    # a request that named a provider model has no route: only the project budget applies
    assert len(guard.check(None, "t", "p")) == 1


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -1.0, 0.0])
def test_bad_costs_are_ignored(cost: float) -> None:
    guard = BudgetGuard([BudgetConfig(scope="token", limit_usd=Decimal("1"))])
    guard.record(None, "t", None, cost)
    assert guard.spent("token", "t", "daily") == 0


def test_load_sets_the_current_windows() -> None:
    guard = BudgetGuard(
        [BudgetConfig(scope="route", limit_usd=Decimal("10"))], clock=_at("2026-11-22T10:00:00")
    )
    guard.load({("daily", "route", "r"): 12.0, ("monthly", "route", "r"): 50.0})
    with pytest.raises(GatewayError, match="daily budget of route 'r' reached"):
        guard.check("r", None, None)
    assert guard.spent("route", "r", "monthly") == 50.0


def test_windows_and_config() -> None:
    day = window_of("daily", datetime(2026, 2, 28, 23, 0, tzinfo=UTC).timestamp())
    assert day.id == "2026-02-28" and day.end == datetime(2026, 3, 1, tzinfo=UTC)
    month = window_of("monthly", datetime(2026, 12, 5, tzinfo=UTC).timestamp())
    assert month.id == "2026-12" and month.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert month.start_ms == int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(PydanticError, match=r"limit_usd\s+Input should be greater than 0"):
        BudgetConfig(scope="route", limit_usd=Decimal("0"))
    with pytest.raises(
        PydanticError, match=r"scope\s+Input should be 'project', 'token' or 'route'"
    ):
        BudgetConfig(scope="team", limit_usd=Decimal("1"))


def test_spend_spike() -> None:
    week = [10.0] * 7
    assert spend_spike([*week, 30.0]).is_spike
    assert not spend_spike([*week, 29.9]).is_spike
    assert spend_spike([*week, 25.0], factor=2.5).is_spike
    # only the 7 days before today count
    assert spend_spike([1000.0, *week, 30.0]).is_spike
    # not enough history, or too little spend to matter
    assert not spend_spike([10.0, 10.0, 100.0]).is_spike
    assert not spend_spike([0.0] * 7 + [0.5]).is_spike
    quiet = spend_spike([0.0] * 7 + [5.0])
    assert quiet.is_spike and "without spend" in quiet.message
    spike = spend_spike([*week, 40.0])
    assert spike.trailing_average_usd == 10 and "4.0x" in spike.message
    assert not spend_spike([]).is_spike
    with pytest.raises(ValueError, match="factor must be positive"):
        spend_spike(week, factor=0)


# -- Redis ------------------------------------------------------------------------------


# Redis expires the counters at the end of their window by its own clock: the windows of
# these tests are tomorrow's, so they are live whenever the tests run.
DAY = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def prefix() -> Iterator[str]:
    require_service(port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    name = f"mloop-test-budget-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(URL)
    for key in client.scan_iter(match=f"{name}*"):
        client.delete(key)
    client.close()


def test_replicas_share_spend_through_redis(prefix: str) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="route", key="r", limit_usd=Decimal("10"))]

    async def go() -> None:
        a_client = aioredis.Redis.from_url(URL)
        b_client = aioredis.Redis.from_url(URL)
        a = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(a_client, prefix=prefix))
        b = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(b_client, prefix=prefix))
        try:
            a.record("r", "t", "p", 6)
            b.record("r", "t", "p", 3)
            await a.sync()
            await b.sync()
            assert b.spent("route", "r", "daily") == pytest.approx(9)
            b.check("r", "t", "p")
            b.record("r", "t", "p", 1.5)
            await b.sync()
            with pytest.raises(GatewayError, match="daily budget of route 'r' reached"):
                b.check("r", "t", "p")
            await a.sync()
            with pytest.raises(GatewayError, match="daily budget of route 'r' reached"):
                a.check("r", "t", "p")
            raw = redis.Redis.from_url(URL)
            name = f"{prefix}:daily:{DAY:%Y-%m-%d}:route:r"
            assert float(raw.get(name) or 0) == pytest.approx(10.5)
            day_ends = DAY.replace(hour=0) + timedelta(days=1)
            assert raw.expiretime(name) == int(day_ends.timestamp())
            raw.close()
        finally:
            await a_client.aclose()
            await b_client.aclose()

    asyncio.run(go())


def test_seeding_from_the_call_log_is_idempotent_across_replicas(prefix: str) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="token", limit_usd=Decimal("100"))]

    async def go() -> None:
        client = aioredis.Redis.from_url(URL)
        try:
            guards = [
                BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(client, prefix=prefix))
                for _ in range(3)
            ]
            for guard in guards:  # every replica starts and loads the same call log
                guard.load({("daily", "token", "alice"): 40.0})
                await guard.sync()
            guards[0].record(None, "alice", None, 2)
            await guards[0].sync()
            await guards[2].sync()
            assert guards[2].spent("token", "alice", "daily") == pytest.approx(42)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_failed_sync_keeps_the_spend_for_the_next_one(prefix: str) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="token", limit_usd=Decimal("100"))]

    async def go() -> None:
        dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        guard = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(dead, prefix=prefix))
        guard.record(None, "alice", None, 5)
        with pytest.raises(redis.ConnectionError, match=r"connecting to 127\.0\.0\.1:1\b"):
            await guard.sync()
        assert guard.spent("token", "alice", "daily") == 5  # still enforced locally
        await dead.aclose()
        live = aioredis.Redis.from_url(URL)
        guard._shared = RedisBudgetCounters(live, prefix=prefix)
        await guard.sync()
        assert await RedisBudgetCounters(live, prefix=prefix).get(
            [("daily", "token", "alice", f"{DAY:%Y-%m-%d}")]
        ) == {("daily", "token", "alice", f"{DAY:%Y-%m-%d}"): 5.0}
        await live.aclose()

    asyncio.run(go())


# -- reservations ---------------------------------------------------------------------


def test_a_call_is_admitted_only_if_its_estimate_fits_and_settles_its_actual_cost() -> None:
    clock = _at("2026-11-22T10:00:00")
    guard = BudgetGuard([BudgetConfig(scope="route", key="r", limit_usd=Decimal("1"))], clock=clock)

    async def go() -> None:
        first = await guard.reserve("r", "t", "p", 0.6)
        assert guard.held("route", "r", "daily") == pytest.approx(0.6)
        # 0.6 held by a call in progress: another 0.6 does not fit, 0.4 does.
        with pytest.raises(BudgetExceededError) as info:
            await guard.reserve("r", "t", "p", 0.6)
        err = info.value
        assert err.code == "BUDGET_EXCEEDED" and err.field == "route"
        assert "cannot cover this call" in err.message
        assert "$0.0000 spent and $0.6000 held by calls in progress of $1" in err.message
        assert "may cost up to $0.6000" in err.message
        assert err.retry_after == 1.0  # it fits once the call in progress settles
        second = await guard.reserve("r", "t", "p", 0.4)
        guard.settle(first, 0.5)  # cost less than estimated: the difference is released
        guard.settle(first, 0.5)  # settling twice counts once
        assert guard.spent("route", "r", "daily") == pytest.approx(0.5)
        assert guard.held("route", "r", "daily") == pytest.approx(0.4)
        guard.settle(second, 0.0)  # a failed call releases its reservation
        assert guard.held("route", "r", "daily") == 0
        third = await guard.reserve("r", "t", "p", 0.5)  # exactly fits
        guard.settle(third, 0.7)  # cost more than estimated: counted in full
        assert guard.spent("route", "r", "daily") == pytest.approx(1.2)
        with pytest.raises(BudgetExceededError, match=r"reached: \$1.2000 spent of \$1") as spent:
            await guard.reserve("r", "t", "p", 0.0)
        assert spent.value.retry_after == pytest.approx(14 * 3600)

    asyncio.run(go())


def test_concurrent_reservations_never_admit_more_than_the_limit() -> None:
    guard = BudgetGuard([BudgetConfig(scope="token", limit_usd=Decimal("1"))])

    async def call() -> float:
        try:
            reservation = await guard.reserve(None, "alice", None, 0.08)
        except BudgetExceededError:
            return 0.0
        await asyncio.sleep(0)  # every call is in flight before any settles
        guard.settle(reservation, 0.08)
        return 0.08

    async def go() -> list[float]:
        return await asyncio.gather(*(call() for _ in range(200)))

    admitted = [c for c in asyncio.run(go()) if c]
    assert len(admitted) == 12  # floor(1 / 0.08)
    assert guard.spent("token", "alice", "daily") == pytest.approx(0.96)
    assert guard.held("token", "alice", "daily") == 0


def test_alert_budgets_are_reported_by_reservations_and_never_refuse() -> None:
    clock = _at("2026-11-22T10:00:00")
    budget = BudgetConfig(scope="token", key="alice", limit_usd=Decimal("1"), action="alert")
    guard = BudgetGuard([budget], clock=clock)

    async def go() -> None:
        guard.settle(await guard.reserve(None, "alice", None, 5), 2)
        reservation = await guard.reserve(None, "alice", None, 5)
        assert [a.first for a in reservation.alerts] == [True]
        assert "$2.0000 spent of $1" in reservation.alerts[0].message

    asyncio.run(go())


def test_replicas_share_reservations_and_spend_through_redis(prefix: str) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="route", key="r", limit_usd=Decimal("1"))]

    async def go() -> None:
        client = aioredis.Redis.from_url(URL)
        a = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(client, prefix=prefix))
        b = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(client, prefix=prefix))
        try:
            held = await a.reserve("r", "t", "p", 0.7)
            with pytest.raises(BudgetExceededError, match=r"\$0.7000 held by calls in progress"):
                await b.reserve("r", "t", "p", 0.7)  # the other replica's call holds 0.7
            a.settle(held, 0.2)
            await a.drain()
            assert b.spent("route", "r", "daily") == 0  # not yet read back ...
            second = await b.reserve("r", "t", "p", 0.7)  # ... but Redis admits against it
            assert b.spent("route", "r", "daily") == pytest.approx(0.2)
            b.settle(second, 0.7)
            await b.drain()
            raw = redis.Redis.from_url(URL)
            name = f"{prefix}:daily:{DAY:%Y-%m-%d}:route:r"
            assert float(raw.get(name) or 0) == pytest.approx(0.9)
            assert raw.hlen(f"{prefix}:held:daily:{DAY:%Y-%m-%d}:route:r") == 0
            raw.close()
        finally:
            await client.aclose()

    asyncio.run(go())


def test_a_dead_replicas_reservation_lapses_with_its_lease(prefix: str) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="route", key="r", limit_usd=Decimal("1"))]

    async def go() -> None:
        client = aioredis.Redis.from_url(URL)
        # Lease 0: the reservation is over as soon as it is made, as if its replica had died
        # an hour ago; the next admission drops it.
        dead = BudgetGuard(
            budgets, clock=clock, shared=RedisBudgetCounters(client, prefix=prefix), lease_seconds=0
        )
        live = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(client, prefix=prefix))
        try:
            await dead.reserve("r", "t", "p", 0.9)
            await live.reserve("r", "t", "p", 0.9)
            with pytest.raises(
                BudgetExceededError, match="cannot cover this call"
            ):  # a live replica's hold does not lapse
                await dead.reserve("r", "t", "p", 0.9)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_redis_down_falls_back_to_local_counting_with_a_warning(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(DAY)
    budgets = [BudgetConfig(scope="route", key="r", limit_usd=Decimal("1"))]

    async def go() -> None:
        dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        guard = BudgetGuard(budgets, clock=clock, shared=RedisBudgetCounters(dead, prefix=prefix))
        try:
            with caplog.at_level("WARNING", logger="mloop.llm.redis_client"):
                first = await guard.reserve("r", "t", "p", 0.7)
            assert "Redis unavailable for the budgets" in caplog.text
            assert guard.health.is_down  # the next calls do not wait for Redis
            assert guard.held("route", "r", "daily") == pytest.approx(0.7)
            with pytest.raises(
                BudgetExceededError, match="cannot cover this call"
            ):  # still enforced, locally
                await guard.reserve("r", "t", "p", 0.7)
            guard.settle(first, 0.3)
            assert guard.spent("route", "r", "daily") == pytest.approx(0.3)
            assert guard._unsynced  # pushed to Redis once it answers
        finally:
            await dead.aclose()

    asyncio.run(go())


def test_the_budgets_example_in_the_docs_loads() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "gateway-cache-and-cost.md"
    section = page.read_text().split("## Budgets\n", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0]
    config = GatewayConfig.from_dict(yaml.safe_load(block), source=str(page))
    assert [b.action for b in config.budgets] == ["block", "block", "alert"]
    assert config.routes["support-reply"].reserve_output_tokens == 1024
