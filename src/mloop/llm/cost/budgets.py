"""Budgets: spending limits per project, token and route over UTC days and months.

:class:`BudgetGuard` keeps the spend of the current windows in memory, so the check on the
request path costs a few dictionary lookups. At startup the gateway loads the spend so far
from the call log (:func:`mloop.llm.cost.spend.current_spend`); after each call it records
the call's cost. Windows roll over at 00:00 UTC (daily) and on the 1st of the month
(monthly) without any reset job: counters are keyed by their window.

With several gateway replicas, pass ``shared=RedisBudgetCounters(...)`` and call
:meth:`BudgetGuard.sync` every second or so from a background task: it adds this replica's
new spend to Redis (``INCRBYFLOAT`` on ``<prefix>:<period>:<window>:<scope>:<key>``,
expiring at the end of the window) and reads back the totals of every replica. Between
syncs a replica sees its own spend at once and the others' with that delay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, cast

from mloop.llm.cost.config import BudgetConfig
from mloop.llm.errors import BudgetExceededError

if TYPE_CHECKING:  # redis is the `redis` extra: imported only by its users
    import redis.asyncio as aioredis

Scope = Literal["project", "token", "route"]
Period = Literal["daily", "monthly"]
# (period, scope, key, window) -> USD
CounterKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Window:
    """One budget period: its id (``2026-11-22`` or ``2026-11``), start and end (UTC)."""

    period: Period
    id: str
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)


def window_of(period: Period, at: float) -> Window:
    """The window of ``period`` that contains ``at`` (seconds since the epoch)."""
    now = datetime.fromtimestamp(at, UTC)
    if period == "daily":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
        return Window(period, start.strftime("%Y-%m-%d"), start, end)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return Window(period, start.strftime("%Y-%m"), start, end)


@dataclass(frozen=True)
class BudgetAlert:
    """A budget with ``action: alert`` that is at or over its limit. ``first`` is true for
    the first alert of this budget, key and window in this process (record that one; later
    ones repeat it)."""

    budget: BudgetConfig
    key: str
    spent_usd: float
    limit_usd: float
    window: Window
    first: bool

    @property
    def message(self) -> str:
        return _describe(self.budget, self.key, self.spent_usd, self.window)


def _describe(budget: BudgetConfig, key: str, spent: float, window: Window) -> str:
    return (
        f"{budget.period} budget of {budget.scope} {key!r} reached: "
        f"${spent:.4f} spent of ${budget.limit_usd}; resets at "
        f"{window.end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


class RedisBudgetCounters:
    """Spend counters in Redis, shared by gateway replicas (see the module docstring)."""

    # Raise a counter to at least ARGV[1] (seeding from the call log is idempotent: every
    # replica may seed the same window at startup). ARGV[2]: expiry, seconds since epoch.
    _SEED = """
    local current = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
    redis.call('EXPIREAT', KEYS[1], ARGV[2])
    return redis.call('GET', KEYS[1])
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "mloop:budget") -> None:
        self.client = client
        self.prefix = prefix
        self._seed = client.register_script(self._SEED)

    def _name(self, key: CounterKey) -> str:
        period, scope, name, window = key
        return f"{self.prefix}:{period}:{window}:{scope}:{name}"

    async def add(self, amounts: Mapping[CounterKey, tuple[float, int]]) -> dict[CounterKey, float]:
        """Add ``amount`` to each counter and set its expiry (``(amount, expire_at)``);
        returns the new totals."""
        if not amounts:
            return {}
        keys = list(amounts)
        async with self.client.pipeline(transaction=True) as pipe:
            for key in keys:
                amount, expire_at = amounts[key]
                pipe.incrbyfloat(self._name(key), amount)
                pipe.expireat(self._name(key), expire_at)
            results = await pipe.execute()
        return {key: float(results[2 * i]) for i, key in enumerate(keys)}

    async def get(self, keys: Sequence[CounterKey]) -> dict[CounterKey, float]:
        """The totals of ``keys`` (0 for counters no replica has written)."""
        if not keys:
            return {}
        values = cast("list[bytes | None]", await self.client.mget([self._name(k) for k in keys]))
        return {k: float(v) if v is not None else 0.0 for k, v in zip(keys, values, strict=True)}

    async def seed(self, totals: Mapping[CounterKey, tuple[float, int]]) -> None:
        """Raise counters to at least the given totals (``(total, expire_at)``)."""
        for key, (total, expire_at) in totals.items():
            await self._seed(keys=[self._name(key)], args=[repr(float(total)), expire_at])


class BudgetGuard:
    """Checks and records spend against the configured budgets; see the module docstring.

    ``clock`` returns seconds since the epoch (tests pass a fake one).
    """

    def __init__(
        self,
        budgets: Iterable[BudgetConfig],
        *,
        clock: Callable[[], float] = time.time,
        shared: RedisBudgetCounters | None = None,
    ) -> None:
        self.budgets = list(budgets)
        self._clock = clock
        self._shared = shared
        self._by_scope: dict[str, list[BudgetConfig]] = {}
        for budget in self.budgets:
            self._by_scope.setdefault(budget.scope, []).append(budget)
        self._spent: dict[CounterKey, float] = {}
        self._unsynced: dict[CounterKey, float] = {}
        self._seeds: dict[CounterKey, float] = {}
        self._alerted: set[tuple[CounterKey, int]] = set()
        self._windows: dict[str, str] = {}
        self._current: dict[Period, Window] | None = None
        self._current_from = 0.0
        self._current_until = 0.0

    @property
    def is_shared(self) -> bool:
        """Whether spend is exchanged with other replicas (call :meth:`sync`)."""
        return self._shared is not None

    # -- windows --------------------------------------------------------------------------

    def windows(self) -> dict[Period, Window]:
        """The current daily and monthly windows (what :func:`current_spend` must read)."""
        now = self._clock()
        # Recomputed only when a window has ended (or the clock went back, in tests).
        if self._current is None or not self._current_from <= now < self._current_until:
            current: dict[Period, Window] = {p: window_of(p, now) for p in ("daily", "monthly")}
            for period, window in current.items():
                if self._windows.get(period) != window.id:
                    self._windows[period] = window.id
                    self._drop_old(period, window.id)
            self._current = current
            self._current_from = max(w.start.timestamp() for w in current.values())
            self._current_until = min(w.end.timestamp() for w in current.values())
        return self._current

    def _drop_old(self, period: str, window_id: str) -> None:
        for store in (self._spent, self._unsynced, self._seeds):
            for key in [k for k in store if k[0] == period and k[3] != window_id]:
                del store[key]
        self._alerted = {(k, b) for k, b in self._alerted if k[0] != period or k[3] == window_id}

    def _applicable(
        self, route: str | None, token: str | None, project: str | None
    ) -> Iterable[tuple[BudgetConfig, str]]:
        for scope, key in (("route", route), ("token", token), ("project", project)):
            if not key:
                continue
            for budget in self._by_scope.get(scope, ()):
                if budget.key in ("*", key):
                    yield budget, key

    # -- the request path -----------------------------------------------------------------

    def check(self, route: str | None, token: str | None, project: str | None) -> list[BudgetAlert]:
        """Before a call: raise ``BudgetExceededError`` (429) when a ``block``
        budget is spent; return the ``alert`` budgets that are."""
        windows = self.windows()
        alerts: list[BudgetAlert] = []
        for budget, key in self._applicable(route, token, project):
            window = windows[budget.period]
            counter = (budget.period, budget.scope, key, window.id)
            spent = self._spent.get(counter, 0.0)
            limit = float(budget.limit_usd)
            if spent < limit:
                continue
            if budget.action == "block":
                raise BudgetExceededError(
                    _describe(budget, key, spent, window),
                    field=budget.scope,
                    retry_after=max(1.0, window.end.timestamp() - self._clock()),
                )
            alert_key = (counter, id(budget))
            first = alert_key not in self._alerted
            self._alerted.add(alert_key)
            alerts.append(BudgetAlert(budget, key, spent, limit, window, first))
        return alerts

    def record(
        self, route: str | None, token: str | None, project: str | None, cost_usd: float
    ) -> None:
        """After a call: add its cost to every budget window it counts against. Costs that
        are not finite and positive are ignored."""
        if not isinstance(cost_usd, int | float) or not math.isfinite(cost_usd) or cost_usd <= 0:
            return
        windows = self.windows()
        seen: set[CounterKey] = set()
        for budget, key in self._applicable(route, token, project):
            counter = (budget.period, budget.scope, key, windows[budget.period].id)
            if counter in seen:
                continue
            seen.add(counter)
            self._spent[counter] = self._spent.get(counter, 0.0) + cost_usd
            if self._shared is not None:
                self._unsynced[counter] = self._unsynced.get(counter, 0.0) + cost_usd

    def spent(self, scope: Scope, key: str, period: Period) -> float:
        """The spend this guard knows of for ``key`` in the current ``period`` window."""
        window = self.windows()[period]
        return self._spent.get((period, scope, key, window.id), 0.0)

    # -- startup and replicas -------------------------------------------------------------

    def load(self, spend: Mapping[tuple[str, str, str], float]) -> None:
        """Set the spend of the current windows: ``(period, scope, key) -> USD``, as
        :func:`mloop.llm.cost.spend.current_spend` returns it. Replaces what was counted."""
        windows = self.windows()
        for (period, scope, key), usd in spend.items():
            if period not in windows or not math.isfinite(usd):
                continue
            counter = (period, scope, key, windows[cast("Period", period)].id)
            self._spent[counter] = float(usd)
            if self._shared is not None:
                self._seeds[counter] = float(usd)

    async def sync(self) -> None:
        """Exchange spend with the other replicas through Redis (no-op without ``shared``)."""
        if self._shared is None:
            return
        windows = self.windows()
        ends = {p: int(w.end.timestamp()) for p, w in windows.items()}
        if self._seeds:
            await self._shared.seed(
                {k: (v, ends[cast("Period", k[0])]) for k, v in self._seeds.items()}
            )
            self._seeds = {}
        pushed, self._unsynced = self._unsynced, {}
        try:
            totals = await self._shared.add(
                {k: (v, ends[cast("Period", k[0])]) for k, v in pushed.items()}
            )
            others = [k for k in self._spent if k not in totals]
            totals.update(await self._shared.get(others))
        except Exception:
            # Push again next time rather than lose this replica's spend.
            for key, usd in pushed.items():
                self._unsynced[key] = self._unsynced.get(key, 0.0) + usd
            raise
        current = {w.id for w in windows.values()}
        for key, total in totals.items():
            if key[3] in current:
                # Spend recorded while we awaited Redis is not in the total yet.
                self._spent[key] = total + self._unsynced.get(key, 0.0)


@dataclass(frozen=True)
class SpendSpike:
    """Today's spend against the trailing average of the days before it."""

    is_spike: bool
    today_usd: float
    trailing_average_usd: float
    factor: float

    @property
    def message(self) -> str:
        return (
            f"spend today ${self.today_usd:.2f} is "
            f"{self.today_usd / self.trailing_average_usd:.1f}x the trailing daily average "
            f"${self.trailing_average_usd:.2f}"
            if self.trailing_average_usd > 0
            else f"spend today ${self.today_usd:.2f} after days without spend"
        )


def spend_spike(
    daily_totals: Sequence[float],
    factor: float = 3.0,
    *,
    days: int = 7,
    min_spend_usd: float = 1.0,
) -> SpendSpike:
    """Whether today's spend (the last of ``daily_totals``, oldest first, one per day) is
    at least ``factor`` times the average of the ``days`` before it.

    Needs ``days`` days of history (fewer: never a spike), and today must have spent at
    least ``min_spend_usd`` so that cents against fractions of cents do not alert. Days
    without spend before today count as 0; if all were 0, any spend over the minimum is a
    spike.
    """
    if factor <= 0 or days < 1:
        raise ValueError("factor must be positive and days at least 1")
    if not daily_totals:
        return SpendSpike(False, 0.0, 0.0, factor)
    today = float(daily_totals[-1])
    history = [float(v) for v in daily_totals[-days - 1 : -1]]
    if len(history) < days:
        return SpendSpike(False, today, sum(history) / len(history) if history else 0.0, factor)
    average = sum(history) / days
    spike = today >= min_spend_usd and today >= factor * average
    return SpendSpike(spike, today, average, factor)
