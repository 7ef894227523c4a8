"""Spend and cache reports over the call log (``llm_calls``).

USD spent per budget scope since a time (:func:`spend_by_scope`, what budgets are seeded
from), spend per UTC day, optionally by route, model, token, project or provider
(:func:`daily_spend`), and cache hit rate and savings per day (:func:`cache_stats`). Every
function takes a :class:`Context` (``runtime.run(lambda ctx: daily_spend(ctx, 30, "route"),
write=False)``) and runs a few aggregate queries over the ``time`` indexes, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select

from mloop.core.errors import ValidationError
from mloop.llm.calls.queries import CACHE_HITS, DAY_MS
from mloop.llm.calls.tables import llm_calls
from mloop.store.context import Context

GroupBy = Literal["route", "model", "token", "project", "provider"]
GROUP_BY: tuple[str, ...] = ("route", "model", "token", "project", "provider")
MAX_DAYS = 366

# The budget scopes and the column that holds each one's key.
_SCOPE_COLUMNS = {
    "route": llm_calls.c.route,
    "token": llm_calls.c.token_name,
    "project": llm_calls.c.project,
}


@dataclass(frozen=True)
class SpendRow:
    """Spend of one UTC day (``YYYY-MM-DD``) and, when grouped, one key (None: calls
    without one, such as requests that named a provider model instead of a route)."""

    day: str
    key: str | None
    cost_usd: float
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CacheRow:
    """Cache outcome counts of one UTC day (and key). ``hit_rate`` is hits over the calls
    that consulted the cache (hits and misses); ``saved_usd`` the cost the hits avoided."""

    day: str
    key: str | None
    calls: int
    exact_hits: int
    semantic_hits: int
    misses: int
    bypassed: int
    uncached: int
    saved_usd: float

    @property
    def hit_rate(self) -> float:
        looked = self.exact_hits + self.semantic_hits + self.misses
        return (self.exact_hits + self.semantic_hits) / looked if looked else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "hit_rate": self.hit_rate}


def _now_ms(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


def _first_day_ms(days: int, now_ms: int) -> int:
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days must be between 1 and {MAX_DAYS}", field="days")
    return (now_ms // DAY_MS - days + 1) * DAY_MS


def _day(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y-%m-%d")


def _group_column(group_by: str | None) -> ColumnElement[Any] | None:
    if group_by is None:
        return None
    if group_by not in GROUP_BY:
        raise ValidationError(
            f"group_by {group_by!r} is not one of {', '.join(GROUP_BY)}", field="group_by"
        )
    if group_by == "model":
        # The same model name can come from two providers at different prices.
        return case(
            (llm_calls.c.provider.is_(None), llm_calls.c.model),
            else_=llm_calls.c.provider + "/" + llm_calls.c.model,
        )
    if group_by == "token":
        return llm_calls.c.token_name
    return llm_calls.c[group_by]


def spend_by_scope(
    ctx: Context, since_ms: int, until_ms: int | None = None
) -> dict[tuple[str, str], float]:
    """USD spent since ``since_ms`` (until ``until_ms``) per ``(scope, key)``: scopes
    ``route``, ``token`` and ``project``. Calls without a route have no route entry."""
    spend: dict[tuple[str, str], float] = {}
    for scope, column in _SCOPE_COLUMNS.items():
        query = select(column, func.sum(llm_calls.c.cost_usd)).where(
            llm_calls.c.time >= since_ms, column.is_not(None), llm_calls.c.cost_usd > 0
        )
        if until_ms is not None:
            query = query.where(llm_calls.c.time < until_ms)
        for key, total in ctx.conn.execute(query.group_by(column)):
            spend[(scope, str(key))] = float(total or 0.0)
    return spend


def _per_day(
    ctx: Context,
    columns: list[Any],
    days: int,
    group_by: GroupBy | None,
    now_ms: int | None,
) -> list[tuple[str, str | None, Sequence[Any]]]:
    """``columns`` aggregated per UTC day (and key of ``group_by``) over the last ``days``
    days: ``(day, key, values)`` with the values in the order of ``columns``."""
    now = _now_ms(now_ms)
    day = (llm_calls.c.time // DAY_MS).label("day")
    key = _group_column(group_by)
    selected = [day, *columns] if key is None else [day, key.label("key"), *columns]
    query = select(*selected).where(
        llm_calls.c.time >= _first_day_ms(days, now), llm_calls.c.time <= now
    )
    query = query.group_by(day) if key is None else query.group_by(day, key)
    values_from = 1 if key is None else 2
    return [
        (
            _day(int(row[0])),
            None if key is None or row[1] is None else str(row[1]),
            tuple(row[values_from:]),
        )
        for row in ctx.conn.execute(query)
    ]


def daily_spend(
    ctx: Context, days: int = 30, group_by: GroupBy | None = None, *, now_ms: int | None = None
) -> list[SpendRow]:
    """Spend per UTC day over the last ``days`` days (today included), oldest first, and
    per key of ``group_by`` within a day (highest spend first). Days without calls are
    absent."""
    columns = [
        func.sum(llm_calls.c.cost_usd),
        func.count(),
        func.sum(llm_calls.c.input_tokens),
        func.sum(llm_calls.c.output_tokens),
    ]
    rows = [
        SpendRow(
            day=day,
            key=key,
            cost_usd=float(row[0] or 0.0),
            calls=int(row[1]),
            input_tokens=int(row[2] or 0),
            output_tokens=int(row[3] or 0),
        )
        for day, key, row in _per_day(ctx, columns, days, group_by, now_ms)
    ]
    rows.sort(key=lambda r: (r.day, -r.cost_usd, r.key or ""))
    return rows


def cache_stats(
    ctx: Context, days: int = 30, group_by: GroupBy | None = None, *, now_ms: int | None = None
) -> list[CacheRow]:
    """Cache hits, misses and savings per UTC day (and key of ``group_by``) over the last
    ``days`` days, oldest first."""
    status = llm_calls.c.cache

    def count(*values: str) -> ColumnElement[Any]:
        return func.sum(case((status.in_(values), 1), else_=0))

    columns = [
        func.count(),
        count("exact"),
        count("semantic"),
        count("miss"),
        count("bypass"),
        count("off"),
        func.sum(case((status.in_(CACHE_HITS), llm_calls.c.saved_usd), else_=0.0)),
    ]
    rows = [
        CacheRow(
            day=day,
            key=key,
            calls=int(row[0]),
            exact_hits=int(row[1] or 0),
            semantic_hits=int(row[2] or 0),
            misses=int(row[3] or 0),
            bypassed=int(row[4] or 0),
            uncached=int(row[5] or 0),
            saved_usd=float(row[6] or 0.0),
        )
        for day, key, row in _per_day(ctx, columns, days, group_by, now_ms)
    ]
    rows.sort(key=lambda r: (r.day, r.key or ""))
    return rows
