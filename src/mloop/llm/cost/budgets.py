"""Budgets: spending limits per project, token and route over UTC days and months.

:class:`BudgetGuard` keeps the spend of the current windows in memory. At startup the
gateway loads the spend so far from the call log (:func:`mloop.llm.cost.spend.current_spend`).
Each call reserves its estimated cost at admission (:meth:`BudgetGuard.reserve`, which
refuses a call that a ``block`` budget cannot cover) and settles it when it ends
(:meth:`BudgetGuard.settle`): see :mod:`mloop.llm.cost.reservations`. Windows roll over at
00:00 UTC (daily) and on the 1st of the month (monthly) without any reset job: counters are
keyed by their window.

With several gateway replicas, pass ``shared=RedisBudgetCounters(...)``: reservations and
settlements then run as Lua scripts in Redis, so every replica admits against the same spend
and the same calls in progress (``<prefix>:<period>:<window>:<scope>:<key>``, expiring at the
end of the window). If Redis fails, the guard logs a warning and counts on its own until
Redis answers again. :meth:`BudgetGuard.sync` seeds Redis from the call log and refreshes
this replica's view of the totals (for alerts and :meth:`BudgetGuard.spent`).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, cast

from mloop.core.ids import new_id
from mloop.llm.cost.config import BudgetConfig
from mloop.llm.cost.reservations import (
    RESERVE_SCRIPT,
    SETTLE_SCRIPT,
    TOLERANCE_USD,
    CounterKey,
    Reservation,
)
from mloop.llm.errors import BudgetExceededError
from mloop.llm.redis_client import RedisHealth

if TYPE_CHECKING:  # redis is the `redis` extra: imported only by its users
    import redis.asyncio as aioredis

Scope = Literal["project", "token", "route"]
Period = Literal["daily", "monthly"]

__all__ = ["BudgetAlert", "BudgetGuard", "CounterKey", "RedisBudgetCounters", "Reservation"]


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


def _describe(
    budget: BudgetConfig,
    key: str,
    spent: float,
    window: Window,
    held: float = 0.0,
    estimate: float = 0.0,
) -> str:
    resets = window.end.strftime("%Y-%m-%dT%H:%M:%SZ")
    if spent >= float(budget.limit_usd):
        return (
            f"{budget.period} budget of {budget.scope} {key!r} reached: "
            f"${spent:.4f} spent of ${budget.limit_usd}; resets at {resets}"
        )
    return (
        f"{budget.period} budget of {budget.scope} {key!r} cannot cover this call: "
        f"${spent:.4f} spent and ${held:.4f} held by calls in progress of "
        f"${budget.limit_usd}, and this call may cost up to ${estimate:.4f}; resets at {resets}"
    )


def _amount(usd: object) -> float:
    """``usd`` as a float if finite and positive, else 0 (a cost that cannot count)."""
    if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd):
        return 0.0
    return float(usd) if usd > 0 else 0.0


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
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._settle = client.register_script(SETTLE_SCRIPT)

    def _name(self, key: CounterKey) -> str:
        period, scope, name, window = key
        return f"{self.prefix}:{period}:{window}:{scope}:{name}"

    def _held_name(self, key: CounterKey) -> str:
        # "held" where spend counters have their period: the two can never collide.
        period, scope, name, window = key
        return f"{self.prefix}:held:{period}:{window}:{scope}:{name}"

    def _keys(self, counters: Sequence[CounterKey]) -> list[str]:
        return [name for c in counters for name in (self._name(c), self._held_name(c))]

    async def reserve(
        self,
        reservation_id: str,
        amount: float,
        counters: Sequence[tuple[CounterKey, float | None, int]],
        *,
        lease_seconds: float,
    ) -> tuple[int, list[tuple[float, float]]]:
        """Hold ``amount`` on every counter (``(counter, block limit or None, expire_at)``)
        unless a limit refuses it, atomically. Returns the 1-based index of the refusing
        counter (0: held) and each counter's ``(spent, held)`` before this reservation."""
        args: list[str | int] = [reservation_id, repr(amount), repr(float(lease_seconds))]
        for _counter, limit, expire_at in counters:
            args += ["" if limit is None else repr(limit), expire_at]
        args.append(repr(TOLERANCE_USD))
        keys = self._keys([c for c, _, _ in counters])
        raw = cast("list[bytes]", await self._reserve(keys=keys, args=args))
        values = [float(v) for v in raw[1:]]
        return int(raw[0]), [(values[i], values[i + 1]) for i in range(0, len(values), 2)]

    async def settle(
        self, reservation_id: str, cost: float, counters: Sequence[tuple[CounterKey, int]]
    ) -> None:
        """Release a reservation and add the call's ``cost`` (``(counter, expire_at)``)."""
        args: list[str | int] = [reservation_id, repr(cost), *(e for _, e in counters)]
        await self._settle(keys=self._keys([c for c, _ in counters]), args=args)

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
    """Reserves, settles and records spend against the configured budgets; see the module
    docstring.

    ``clock`` returns seconds since the epoch (tests pass a fake one). ``lease_seconds``:
    how long a reservation held in Redis outlives a replica that died during its call.
    ``health`` remembers a Redis outage (one warning, then local counting without trying
    Redis for its ``down_seconds``).
    """

    def __init__(
        self,
        budgets: Iterable[BudgetConfig],
        *,
        clock: Callable[[], float] = time.time,
        shared: RedisBudgetCounters | None = None,
        lease_seconds: float = 3600.0,
        health: RedisHealth | None = None,
    ) -> None:
        self.budgets = list(budgets)
        self._clock = clock
        self._shared = shared
        self.lease_seconds = lease_seconds
        # One lock makes each in-memory check-and-hold atomic.
        self._lock = threading.Lock()
        self._held: dict[CounterKey, float] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._sync_lock = asyncio.Lock()
        self.health = health or RedisHealth(
            "budgets", "this process's own budget counters (each replica enforces them alone)"
        )
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
        for store in (self._spent, self._unsynced, self._seeds, self._held):
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

    def blocks(self, route: str | None, token: str | None, project: str | None) -> bool:
        """Whether a ``block`` budget counts calls of this route, token and project."""
        return any(b.action == "block" for b, _ in self._applicable(route, token, project))

    def _counters(
        self, route: str | None, token: str | None, project: str | None
    ) -> dict[CounterKey, list[tuple[BudgetConfig, Window]]]:
        """The counters a call counts against (once each), with the budgets on each."""
        windows = self.windows()
        counters: dict[CounterKey, list[tuple[BudgetConfig, Window]]] = {}
        for budget, key in self._applicable(route, token, project):
            window = windows[budget.period]
            counter = (budget.period, budget.scope, key, window.id)
            counters.setdefault(counter, []).append((budget, window))
        return counters

    def _judge(
        self,
        counter: CounterKey,
        entries: list[tuple[BudgetConfig, Window]],
        spent: float,
        held: float,
        estimate: float,
        *,
        enforce: bool = True,
    ) -> list[BudgetAlert]:
        """Raise ``BudgetExceededError`` when a ``block`` budget of ``counter`` cannot cover
        ``estimate`` on top of ``spent`` and ``held``; return the ``alert`` budgets that are
        spent."""
        alerts: list[BudgetAlert] = []
        for budget, window in entries:
            limit = float(budget.limit_usd)
            if budget.action == "block":
                if enforce and (
                    spent + held >= limit or spent + held + estimate > limit + TOLERANCE_USD
                ):
                    # Only calls in progress stand in the way: try again once they settle.
                    soon = spent + estimate <= limit + TOLERANCE_USD
                    raise BudgetExceededError(
                        _describe(budget, counter[2], spent, window, held, estimate),
                        field=budget.scope,
                        retry_after=1.0
                        if soon
                        else max(1.0, window.end.timestamp() - self._clock()),
                    )
                continue
            if spent < limit:
                continue
            alert_key = (counter, id(budget))
            first = alert_key not in self._alerted
            self._alerted.add(alert_key)
            alerts.append(BudgetAlert(budget, counter[2], spent, limit, window, first))
        return alerts

    def check(self, route: str | None, token: str | None, project: str | None) -> list[BudgetAlert]:
        """Without reserving: raise ``BudgetExceededError`` (429) when a ``block`` budget
        is spent (or held by calls in progress); return the ``alert`` budgets that are."""
        alerts: list[BudgetAlert] = []
        with self._lock:
            for counter, entries in self._counters(route, token, project).items():
                spent, held = self._spent.get(counter, 0.0), self._held.get(counter, 0.0)
                alerts += self._judge(counter, entries, spent, held, 0.0)
        return alerts

    # -- reservations ---------------------------------------------------------------------

    async def reserve(
        self, route: str | None, token: str | None, project: str | None, estimate_usd: float
    ) -> Reservation:
        """At admission: hold ``estimate_usd`` on every budget counter the call counts
        against, or raise ``BudgetExceededError`` (429) if a ``block`` budget cannot cover
        it. Settle the result with :meth:`settle` when the call ends, whatever the outcome.

        Shared: in Redis, atomically across replicas; if Redis fails, in this process (with
        a logged warning)."""
        estimate = _amount(estimate_usd)
        if self._shared is None or not self.health.available():
            return self.reserve_local(route, token, project, estimate)
        from redis.exceptions import RedisError

        try:
            reservation = await self._reserve_shared(route, token, project, estimate)
        except (RedisError, OSError, TimeoutError) as exc:
            self.health.failed(exc)
            return self.reserve_local(route, token, project, estimate)
        self.health.succeeded()
        return reservation

    def reserve_local(
        self, route: str | None, token: str | None, project: str | None, estimate_usd: float
    ) -> Reservation:
        """:meth:`reserve` in this process only, under the guard's lock."""
        estimate = _amount(estimate_usd)
        with self._lock:
            counters = self._counters(route, token, project)
            alerts: list[BudgetAlert] = []
            for counter, entries in counters.items():
                spent, held = self._spent.get(counter, 0.0), self._held.get(counter, 0.0)
                alerts += self._judge(counter, entries, spent, held, estimate)
            for counter in counters:  # nothing refused: hold on every counter
                self._held[counter] = self._held.get(counter, 0.0) + estimate
        return Reservation(new_id(), tuple(counters), estimate, list(alerts))

    async def _reserve_shared(
        self, route: str | None, token: str | None, project: str | None, estimate: float
    ) -> Reservation:
        assert self._shared is not None
        if self._seeds or self._unsynced:
            # The call log's spend, and spend counted during an outage, go to Redis first
            # (once: the calls that arrive meanwhile wait for it).
            async with self._sync_lock:
                if self._seeds or self._unsynced:
                    await self.sync()
        counters = self._counters(route, token, project)
        reservation = Reservation(new_id(), tuple(counters), estimate, in_redis=True)
        if not counters:
            return reservation
        args: list[tuple[CounterKey, float | None, int]] = []
        for counter, entries in counters.items():
            limits = [float(b.limit_usd) for b, _ in entries if b.action == "block"]
            end = int(entries[0][1].end.timestamp())
            args.append((counter, min(limits) if limits else None, end))
        refused, totals = await self._shared.reserve(
            reservation.id, estimate, args, lease_seconds=self.lease_seconds
        )
        alerts: list[BudgetAlert] = []
        with self._lock:
            for i, (counter, entries) in enumerate(counters.items()):
                spent, held = totals[i]
                self._spent[counter] = spent + self._unsynced.get(counter, 0.0)
                alerts += self._judge(
                    counter, entries, spent, held, estimate, enforce=refused == i + 1
                )
        if refused:  # Redis refused with figures Python reads as fitting (float noise)
            counter, entries = list(counters.items())[refused - 1]
            budget, window = next(e for e in entries if e[0].action == "block")
            spent, held = totals[refused - 1]
            raise BudgetExceededError(
                _describe(budget, counter[2], spent, window, held, estimate),
                field=budget.scope,
                retry_after=1.0,
            )
        reservation.alerts = list(alerts)
        return reservation

    def settle(self, reservation: Reservation, cost_usd: float) -> None:
        """When the call ends (answered, failed or cancelled): release ``reservation`` and
        add the call's actual ``cost_usd`` (0 for a call without a known cost). Settling
        twice does nothing. A Redis settlement runs as a task (:meth:`drain` awaits them)."""
        if reservation.settled:
            return
        reservation.settled = True
        cost = _amount(cost_usd)
        with self._lock:
            for counter in reservation.counters:
                if not reservation.in_redis and counter in self._held:
                    left = self._held[counter] - reservation.amount_usd
                    if left > TOLERANCE_USD:
                        self._held[counter] = left
                    else:
                        del self._held[counter]
                # A call that began in a window that has ended counts in that window only
                # (as the call log does): nothing to add to the current one.
                if cost and self._windows.get(counter[0]) == counter[3]:
                    self._spent[counter] = self._spent.get(counter, 0.0) + cost
                    if self._shared is not None and not reservation.in_redis:
                        self._unsynced[counter] = self._unsynced.get(counter, 0.0) + cost
        if reservation.in_redis and reservation.counters:
            task = asyncio.get_running_loop().create_task(self._settle_shared(reservation, cost))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _settle_shared(self, reservation: Reservation, cost: float) -> None:
        assert self._shared is not None
        from redis.exceptions import RedisError

        ends = {p: int(w.end.timestamp()) for p, w in self.windows().items()}
        counters = [(c, ends.get(cast("Period", c[0]), 0)) for c in reservation.counters]
        try:
            await self._shared.settle(reservation.id, cost, counters)
        except (RedisError, OSError, TimeoutError) as exc:
            # The reservation in Redis lapses with its lease; the cost is pushed by sync().
            self.health.failed(exc)
            if cost:
                with self._lock:
                    for counter in reservation.counters:
                        if self._windows.get(counter[0]) == counter[3]:
                            self._unsynced[counter] = self._unsynced.get(counter, 0.0) + cost

    async def drain(self) -> None:
        """Wait for the Redis settlements in progress (before closing the Redis client)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def record(
        self, route: str | None, token: str | None, project: str | None, cost_usd: float
    ) -> None:
        """Add a cost that was not reserved (a guardrail classifier's call) to every budget
        window it counts against. Costs that are not finite and positive are ignored."""
        cost = _amount(cost_usd)
        if not cost:
            return
        with self._lock:
            for counter in self._counters(route, token, project):
                self._spent[counter] = self._spent.get(counter, 0.0) + cost
                if self._shared is not None:
                    self._unsynced[counter] = self._unsynced.get(counter, 0.0) + cost

    def spent(self, scope: Scope, key: str, period: Period) -> float:
        """The spend this guard knows of for ``key`` in the current ``period`` window."""
        window = self.windows()[period]
        return self._spent.get((period, scope, key, window.id), 0.0)

    def held(self, scope: Scope, key: str, period: Period) -> float:
        """What calls in progress hold in this process for ``key`` in the current window."""
        window = self.windows()[period]
        return self._held.get((period, scope, key, window.id), 0.0)

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
