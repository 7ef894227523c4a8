"""Alerts: rules over any metric raise deduplicated alerts, notify channels off the caller's
path, and keep an audited history that other parts subscribe to.

The API monitors call
---------------------

One call per evaluated window, inside the caller's transaction (``runtime.run(fn,
write=True)`` or an operation handler's ``ctx``)::

    from mloop.alerts import evaluate_rules

    alerts = evaluate_rules(
        ctx,
        "monitor",                                   # source: what produced the metrics
        {"drift.share": 0.42, "drift.column.age.score": 0.31, "performance.accuracy": None},
        window_start=start_ms,                       # the window, ms since the epoch (UTC)
        window_end=end_ms,
        subject={"endpoint": "churn", "monitor": "churn-drift"},
        reference={"performance.accuracy": 0.91},    # for change rules (optional)
        links={"window": "/monitors/churn-drift?window=1765000000000"},  # shown and sent
    )

- ``metrics``: metric name -> value; ``None`` or NaN means "no value in this window" (it
  neither breaches nor resolves). Names are free text: ``drift.share``,
  ``drift.column.<column>.score``, ``performance.accuracy``,
  ``fairness.<attribute>.<group>.selection_rate``, ``gateway.spend.spike_ratio``...
- ``subject``: what the window is about, as short ``key -> value`` text (keys ``endpoint``,
  ``monitor``, ``route``, ``model``, ``dataset`` get links in the UI). Rules filter on it.
- ``reference``: the reference value of each metric, which ``change`` rules compare with.
- ``links``: name -> a path on this server or an http(s) URL; shown on the alert and sent
  with it (the window's page, say).
- Returns the :class:`~mloop.alerts.schemas.Alert` s this window opened or updated (a breach
  of an alert already open or acknowledged updates it: ``last_seen``, ``count``, ``value``).
  Bad input raises :class:`~mloop.core.errors.ValidationError` naming the field.
- Windows are told apart by ``window_start``: evaluating the same window again replaces its
  verdict (re-running a monitor counts once); an older window (a backfill) is judged alone.

The same call over HTTP is the ``evaluate_alerts`` operation (writer role):
``Client().call("evaluate_alerts", source=..., metrics=..., window_start=..., ...)``.

Rules (:class:`~mloop.alerts.schemas.RuleSpec`)
-----------------------------------------------

``source`` and ``metric`` are globs (``drift.column.*.score``), ``subject`` maps keys to
globs. ``kind="threshold"`` compares the value with ``operator`` and ``threshold``;
``kind="change"`` compares ``(value - reference) / |reference|`` (``> 0.5``: up 50%).
``consecutive`` windows in a row must breach; ``severity`` is info, warning or critical.
One alert per rule, subject and metric is open at a time (deduplication); after it resolves,
none opens again for ``cooldown_seconds``; ``auto_resolve`` resolves it when a window no
longer breaches.

Subscribing
-----------

Every state change (``raised``, ``acknowledged``, ``resolved``) is an event with actor and
time, numbered in commit order. A subscriber keeps a durable cursor, the last event id it
handled, and reads on from it::

    from mloop.alerts import AlertFeed

    feed = AlertFeed(runtime, after_id=saved_cursor, kind="raised")
    for event, alert in feed.poll():   # each new event with its alert, oldest first
        ...                             # e.g. start a retraining pipeline
    saved_cursor = feed.after_id       # store it where the subscriber keeps its state

(:func:`~mloop.alerts.events.events_since` is the same read inside a transaction, and the
``list_alert_events`` operation with ``after_id`` the same over HTTP.)

Delivery
--------

Raising and resolving queue one delivery per channel of the rule in the same transaction;
the server's dispatcher thread sends them with retries and records every attempt
(``list_alert_deliveries``). Outside a server, :func:`~mloop.alerts.delivery.deliver_due`
(or ``mloop alerts deliver``) sends what is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "Alert": "mloop.alerts.schemas",
    "AlertDispatcher": "mloop.alerts.delivery",
    "AlertEvent": "mloop.alerts.schemas",
    "AlertFeed": "mloop.alerts.feed",
    "RuleSpec": "mloop.alerts.schemas",
    "deliver_due": "mloop.alerts.delivery",
    "evaluate_rules": "mloop.alerts.evaluate",
    "events_since": "mloop.alerts.events",
    "open_alerts": "mloop.alerts.history",
    "operations": "mloop.alerts.ops",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.alerts.delivery import AlertDispatcher, deliver_due
    from mloop.alerts.evaluate import evaluate_rules
    from mloop.alerts.events import events_since
    from mloop.alerts.feed import AlertFeed
    from mloop.alerts.history import open_alerts
    from mloop.alerts.ops import operations
    from mloop.alerts.schemas import Alert, AlertEvent, RuleSpec
