"""Spend from the call log for budgets and spike detection.

:func:`current_spend` gives the spend of the current budget windows (for a
:class:`~mloop.llm.cost.budgets.BudgetGuard` at startup) and :func:`daily_totals` the totals of
the last days (for :func:`~mloop.llm.cost.budgets.spend_spike`). Both read the call log
through :mod:`mloop.llm.calls.reports`, which owns the queries.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from mloop.llm.calls.queries import DAY_MS
from mloop.llm.calls.reports import daily_spend, spend_by_scope
from mloop.llm.cost.budgets import Period, Window
from mloop.store.context import Context


def current_spend(
    ctx: Context, windows: Mapping[Period, Window]
) -> dict[tuple[str, str, str], float]:
    """The spend of the current budget windows, ``(period, scope, key) -> USD``, for
    ``BudgetGuard.load(current_spend(ctx, guard.windows()))`` at startup."""
    result: dict[tuple[str, str, str], float] = {}
    for period, window in windows.items():
        for (scope, key), usd in spend_by_scope(ctx, window.start_ms).items():
            result[(period, scope, key)] = usd
    return result


def daily_totals(ctx: Context, days: int = 8, *, now_ms: int | None = None) -> list[float]:
    """Total USD of each of the last ``days`` UTC days, oldest first, today last, days
    without calls as 0: the input of :func:`mloop.llm.cost.budgets.spend_spike`."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    rows = daily_spend(ctx, days, now_ms=now)  # refuses a bad ``days``
    first = now // DAY_MS - days + 1
    totals = [0.0] * days
    for row in rows:
        index = int(datetime.fromisoformat(row.day).replace(tzinfo=UTC).timestamp()) // 86_400
        totals[index - first] = row.cost_usd
    return totals
