"""A subscriber's durable cursor over the alert timeline.

The subscriber stores :attr:`AlertFeed.after_id` wherever it keeps its own state (a pipeline
trigger's row, a file) and builds the feed from it again after a restart, so every event is
handled at least once; events are numbered in commit order, so none is skipped.
"""

from __future__ import annotations

from typing import Any

from mloop.alerts.events import events_since
from mloop.alerts.history import alert_message, load_alert_row
from mloop.alerts.schemas import Alert, AlertEvent, EventKind
from mloop.store.context import Context


class AlertFeed:
    """Reads the events after :attr:`after_id`, advancing it as it goes."""

    def __init__(
        self, runtime: Any, *, after_id: int = 0, kind: EventKind | None = None, batch: int = 100
    ) -> None:
        if after_id < 0:
            raise ValueError("after_id must be 0 or an event id")
        self.runtime = runtime
        self.after_id = after_id
        self.kind = kind
        self.batch = batch

    def poll(self) -> list[tuple[AlertEvent, Alert]]:
        """The next events (at most ``batch``), each with its alert as it is now."""

        def read(ctx: Context) -> list[tuple[AlertEvent, Alert]]:
            events = events_since(ctx, self.after_id, limit=self.batch, kind=self.kind)
            return [(e, alert_message(load_alert_row(ctx, e.alert_id))) for e in events]

        found: list[tuple[AlertEvent, Alert]] = self.runtime.run(read, write=False)
        if found:
            self.after_id = found[-1][0].id
        return found
