"""The gateway's spend spike as an ordinary alert rule.

Every few minutes the server measures today's gateway spend against the trailing week
(from the call log, through the gateway's public :func:`mloop.llm.cost.spend.daily_totals`)
and evaluates the rules on source ``gateway`` with these metrics, over the window of the
current UTC day:

- ``gateway.spend.today_usd``: today's spend so far;
- ``gateway.spend.trailing_average_usd``: the average daily spend of the 7 days before;
- ``gateway.spend.spike_ratio``: today's spend over that average (infinity after a week
  without spend), and 0 while today's spend is under $1, so that cents against fractions of
  cents never alert.

The default rule ``gateway-spend-spike`` (stored by the migration that created the alerts
tables) opens a warning at ``spike_ratio >= 3`` and resolves it when a later check is
under; admins change it, route it to channels or delete it like any rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mloop.alerts.evaluate import evaluate_rules
from mloop.alerts.schemas import Alert
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms

SOURCE = "gateway"
SPIKE_METRIC = "gateway.spend.spike_ratio"
DAYS = 7
MIN_SPEND_USD = 1.0
DAY_MS = 86_400_000
LINKS = {"gateway": "/gateway"}


def spend_metrics(daily_totals: Sequence[float], *, days: int = DAYS) -> dict[str, float]:
    """The metrics of ``daily_totals`` (one USD total per UTC day, oldest first, today
    last; days without calls as 0)."""
    if len(daily_totals) < days + 1:
        raise ValueError(f"daily_totals needs today and the {days} days before it")
    today = float(daily_totals[-1])
    average = sum(float(v) for v in daily_totals[-days - 1 : -1]) / days
    if today < MIN_SPEND_USD:
        ratio = 0.0
    elif average > 0:
        ratio = today / average
    else:
        ratio = math.inf
    return {
        "gateway.spend.today_usd": today,
        "gateway.spend.trailing_average_usd": average,
        SPIKE_METRIC: ratio,
    }


def check_spend(runtime: Any, *, now: int | None = None) -> list[Alert]:
    """Measure the gateway's spend and evaluate the rules on it (one transaction)."""
    from mloop.llm.cost.spend import daily_totals

    at = now_ms() if now is None else now

    def run(ctx: Any) -> list[Alert]:
        metrics = spend_metrics(daily_totals(ctx, DAYS + 1, now_ms=at))
        return evaluate_rules(
            ctx,
            SOURCE,
            metrics,
            window_start=at - at % DAY_MS,
            window_end=at,
            links=LINKS,
            now=at,
        )

    result: list[Alert] = runtime.run(run, write=True)
    return result


class SpendCheck(PeriodicTask):
    """Runs :func:`check_spend` every ``interval_s`` seconds in a background thread."""

    def __init__(
        self, runtime: Any, *, interval_s: float = 300.0, clock: Callable[[], int] = now_ms
    ) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-alerts-spend")
        self.runtime = runtime
        self._clock = clock

    def run_once(self) -> list[Alert]:
        return check_spend(self.runtime, now=self._clock())
