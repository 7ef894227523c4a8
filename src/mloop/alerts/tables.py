"""Tables owned by the alerts domain: rules, channels, alerts, their audited events, the
per-series state that counts consecutive breaching windows, and the delivery outbox.

Alerts, events and deliveries have no foreign keys: the history outlives a deleted rule or
channel, and carries the rule's name as it was. Every time is integer milliseconds (UTC).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.schema import metadata

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    # Glob patterns (fnmatch, case-sensitive) on the evaluating source and metric names.
    Column("source", String(128), nullable=False),
    Column("metric", String(250), nullable=False),
    # A JSON object of subject key -> glob the subject must match ({} matches every one).
    Column("subject_json", Text, nullable=False),
    # threshold | change
    Column("kind", String(16), nullable=False),
    # > | >= | < | <=
    Column("operator", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("consecutive", Integer, nullable=False),
    # info | warning | critical
    Column("severity", String(16), nullable=False),
    Column("cooldown_seconds", Integer, nullable=False),
    Column("auto_resolve", Boolean, nullable=False),
    # A JSON list of channel names notified when an alert opens or resolves.
    Column("channels_json", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_alert_rules_name", "name", unique=True),
)

alert_channels = Table(
    "alert_channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    # webhook | slack | email | log
    Column("kind", String(16), nullable=False),
    # The kind's settings as JSON, secrets included; reads mask them.
    Column("config_json", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Whether resolutions are sent too, not only new alerts.
    Column("on_resolve", Boolean, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_alert_channels_name", "name", unique=True),
)

alert_series = Table(
    "alert_series",
    metadata,
    # One row per rule, subject and metric evaluated: how many windows in a row breached.
    # Its row lock serialises two evaluations of the same series (one open alert at most).
    Column("rule_id", Integer, primary_key=True),
    Column("subject_key", String(64), primary_key=True),
    Column("metric", String(250), primary_key=True),
    Column("streak", Integer, nullable=False),
    # The streak before the last window, so that evaluating that window again replaces it.
    Column("prior_streak", Integer, nullable=False),
    Column("last_window_start", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule_id", Integer, nullable=False),
    Column("rule", String(256), nullable=False),
    Column("source", String(128), nullable=False),
    Column("metric", String(250), nullable=False),
    # sha256 of the canonical subject JSON: with rule_id and metric, the deduplication key.
    Column("subject_key", String(64), nullable=False),
    Column("subject_json", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    # open | acknowledged | resolved
    Column("status", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("operator", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    # The metric's value (and its reference) in the latest breaching window.
    Column("value", Float, nullable=True),
    Column("reference", Float, nullable=True),
    Column("message", Text, nullable=False),
    # The window that raised the alert, and the latest window that breached.
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("last_window_end", BigInteger, nullable=False),
    # Where the window's details are (a monitor window's page...), as JSON name -> URL.
    Column("links_json", Text, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("acknowledged_by", String(256), nullable=True),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("resolved_by", String(256), nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Index("ix_alerts_series", "rule_id", "subject_key", "metric", "id"),
    Index("ix_alerts_status", "status", "id"),
    Index("ix_alerts_first_seen", "first_seen"),
)

alert_events = Table(
    "alert_events",
    metadata,
    # The audited timeline and the subscribers' cursor: ids grow in commit order (writers
    # take a lock first on PostgreSQL), so "events after id N" misses none.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False),
    # raised | acknowledged | resolved
    Column("kind", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("detail_json", Text, nullable=False),
    Index("ix_alert_events_alert", "alert_id", "id"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    # The outbox: one row per channel and event to send, and what every attempt gave.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=True),  # None: a channel test
    Column("event_id", Integer, nullable=True),
    Column("channel", String(256), nullable=False),
    Column("channel_kind", String(16), nullable=False),
    # raised | resolved | test
    Column("event", String(16), nullable=False),
    # pending | sending | retrying | sent | failed
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    # A JSON list of {at, ok, status_code, error, duration_ms}, one per attempt.
    Column("attempts_json", Text, nullable=False),
    Column("last_error", Text, nullable=False),
    # When the next attempt is due (or, while sending, when the claim lapses).
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
    Index("ix_alert_deliveries_alert", "alert_id"),
)
