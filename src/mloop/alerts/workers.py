"""The alerts domain's part of a running server: two background threads, started when the
server starts serving and stopped at shutdown.

- the :class:`~mloop.alerts.delivery.AlertDispatcher` sends queued deliveries every second;
- the :class:`~mloop.alerts.spend.SpendCheck` evaluates the gateway's spend every five
  minutes (and once at start), so the spend-spike rule raises and resolves on its own.

With several replicas each runs both: deliveries are claimed one replica at a time, and
evaluating the same day's spend twice folds into one alert.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from mloop.core.http import ServerParts

log = logging.getLogger("mloop.alerts")

DELIVERY_INTERVAL_S = 1.0
SPEND_INTERVAL_S = 300.0


def alerts_http(parts: ServerParts) -> list[Any]:
    """Register the workers' start and stop; no routes of its own (the operations are
    served like every domain's)."""
    from mloop.alerts.delivery import AlertDispatcher
    from mloop.alerts.spend import SpendCheck

    dispatcher = AlertDispatcher(parts.runtime, interval_s=DELIVERY_INTERVAL_S)
    spend = SpendCheck(parts.runtime, interval_s=SPEND_INTERVAL_S)

    async def start() -> None:
        try:
            await run_in_threadpool(spend.run_once)
        except Exception:  # a database that is not reachable yet: the next round retries
            log.exception("the first gateway spend check failed; the next runs as planned")
        dispatcher.start()
        spend.start()

    async def close() -> None:
        await run_in_threadpool(dispatcher.close)
        await run_in_threadpool(spend.close)

    parts.on_start.append(start)
    parts.on_close.append(close)
    parts.state["alert_workers"] = (dispatcher, spend)
    return []
