"""Request and response messages of the alerts API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool

from mloop.alerts.fields import (
    Email,
    Headers,
    Host,
    HttpUrl,
    Links,
    MetricPattern,
    Metrics,
    Number,
    Password,
    References,
    Source,
    SourcePattern,
    Subject,
    Username,
    Whole,
)
from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, PageToken, Rule, Time, text
from mloop.core.operations import Message

Severity = Literal["info", "warning", "critical"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
Operator = Literal[">", ">=", "<", "<="]
RuleKind = Literal["threshold", "change"]
ChannelKind = Literal["webhook", "slack", "email", "log"]
EventKind = Literal["raised", "acknowledged", "resolved"]
DeliveryStatus = Literal["pending", "sending", "retrying", "sent", "failed"]
DeliveryEvent = Literal["raised", "resolved", "test"]

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
MAX_NOTE = 2000
MAX_DESCRIPTION = 2000
MAX_RULE_CHANNELS = 20
MAX_CONSECUTIVE = 1000
MAX_COOLDOWN_SECONDS = 30 * 86400
MAX_LIST_RESULTS = 1000

Note = Annotated[str, Field(max_length=MAX_NOTE), text(MAX_NOTE)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION), text(MAX_DESCRIPTION)]


# -- rules --------------------------------------------------------------------------------


class RuleSpec(Message):
    """When to raise an alert: ``metric`` (a glob over metric names) of an evaluation from
    ``source`` (a glob) whose subject matches ``subject`` (key -> glob; ``{}``: any).

    - ``threshold``: the value compared with ``threshold`` by ``operator``
      (``drift.share > 0.3``);
    - ``change``: the relative change against the reference value,
      ``(value - reference) / |reference|``, compared with ``threshold`` (``> 0.5``: up by
      more than 50%; ``< -0.3``: down by more than 30%).

    The alert opens after ``consecutive`` windows in a row breach; while it is open (or
    acknowledged) later breaches update it instead of opening another. After it resolves,
    no new alert opens for the same series within ``cooldown_seconds``. With
    ``auto_resolve``, a later window that no longer breaches resolves it.
    """

    name: AssetName
    source: SourcePattern = Field(default="*", description="Glob over sources: monitor, gateway")
    metric: MetricPattern = Field(description="Glob over metric names: drift.column.*.score")
    subject: Subject = Field(
        default_factory=dict,
        description="Subject key -> glob the evaluated subject must match, e.g. "
        '{"endpoint": "churn"}; {} matches every subject',
    )
    kind: RuleKind = "threshold"
    operator: Operator = ">"
    threshold: Number = Field(allow_inf_nan=False)
    consecutive: Whole = Field(default=1, ge=1, le=MAX_CONSECUTIVE)
    severity: Severity = "warning"
    cooldown_seconds: Whole = Field(default=900, ge=0, le=MAX_COOLDOWN_SECONDS)
    auto_resolve: StrictBool = True
    channels: Annotated[list[AssetName], Rule(uniqueItems=True)] = Field(
        default_factory=list, max_length=MAX_RULE_CHANNELS, description="Channel names"
    )
    enabled: StrictBool = True
    description: Description = ""


class AlertRule(RuleSpec):
    """A stored rule."""

    id: int
    created_by: str
    created_at: int
    updated_at: int


class RuleName(Message):
    name: AssetName


class RuleList(Message):
    rules: list[AlertRule]


# -- channels -----------------------------------------------------------------------------


class _Delivery(Message):
    timeout_s: Number = Field(default=5.0, ge=0.05, le=60, description="Per attempt")
    max_attempts: Whole = Field(default=5, ge=1, le=10)
    backoff_s: Number = Field(
        default=2.0,
        ge=0.01,
        le=600,
        description="Wait before the 2nd attempt; doubled after each failure (at most 1 h)",
    )


class WebhookConfig(_Delivery):
    """POST the alert as JSON to ``url`` (with ``headers``: a token, say)."""

    kind: Literal["webhook"]
    url: HttpUrl
    headers: Headers = Field(default_factory=dict)


class SlackConfig(_Delivery):
    """POST a Slack-compatible message (``{"text", "blocks"}``) to an incoming webhook."""

    kind: Literal["slack"]
    url: HttpUrl


class EmailConfig(_Delivery):
    """Send a plain-text e-mail through an SMTP server."""

    kind: Literal["email"]
    host: Host
    port: Whole = Field(default=25, ge=1, le=65535)
    sender: Email
    to: list[Email] = Field(min_length=1, max_length=50)
    username: Username | None = None
    password: Password | None = None
    security: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="starttls: upgrade on the port; ssl: TLS from the start"
    )


class LogConfig(Message):
    """Write the alert to the server's log (logger ``mloop.alerts``)."""

    kind: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"


ChannelConfig = Annotated[
    WebhookConfig | SlackConfig | EmailConfig | LogConfig, Field(discriminator="kind")
]


class ChannelSpec(Message):
    name: AssetName
    config: ChannelConfig
    enabled: StrictBool = True
    on_resolve: StrictBool = Field(default=True, description="Also send when an alert resolves")
    description: Description = ""


class CreateChannel(ChannelSpec):
    replace: StrictBool = Field(default=False, description="Replace a channel of that name")


class AlertChannel(Message):
    """A stored channel; secrets (URL paths and queries, header values, passwords) masked."""

    id: int
    name: str
    kind: ChannelKind
    config: dict[str, object]
    enabled: bool
    on_resolve: bool
    description: str
    created_by: str
    created_at: int
    updated_at: int


class ChannelName(Message):
    name: AssetName


class ChannelList(Message):
    channels: list[AlertChannel]


# -- alerts -------------------------------------------------------------------------------


class Alert(Message):
    """An alert: one breach of a rule for one subject and metric, and what became of it."""

    id: int
    rule_id: int
    rule: str
    source: str
    metric: str
    subject: dict[str, str]
    severity: Severity
    status: AlertStatus
    kind: RuleKind
    operator: Operator
    threshold: float
    value: float | None = None
    reference: float | None = None
    message: str
    window_start: int
    window_end: int
    last_window_end: int
    links: dict[str, str]
    first_seen: int
    last_seen: int
    count: int = Field(description="Breaching evaluations folded into this alert")
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    resolved_by: str | None = None
    resolved_at: int | None = None


class AlertEvent(Message):
    """One audited change of an alert: raised, acknowledged or resolved, by whom, when."""

    id: int
    alert_id: int
    kind: EventKind
    actor: str
    timestamp: int
    note: str = ""
    detail: dict[str, object] = Field(default_factory=dict)


class ListAlerts(Message):
    status: AlertStatus | None = None
    severity: Severity | None = None
    source: Annotated[str, Field(max_length=128), text(128)] | None = None
    rule: AssetName | None = None
    subject: (
        Annotated[
            str,
            Rule(
                pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}=[^\x00-\x1f\x7f]{0,256}$",
                description="key=value: alerts whose subject has it (endpoint=churn)",
            ),
        ]
        | None
    ) = None
    since: int | None = Field(
        default=None, ge=0, le=MAX_SAFE_INTEGER, description="First seen at or after (ms)"
    )
    until: int | None = Field(
        default=None, ge=0, le=MAX_SAFE_INTEGER, description="First seen before (ms)"
    )
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: PageToken | None = Field(default=None, max_length=200)


class AlertList(Message):
    alerts: list[Alert]
    next_page_token: str | None = None


class AlertId(Message):
    id: int = Field(ge=1, le=2**31 - 1)


class AlertDetail(Message):
    alert: Alert
    events: list[AlertEvent]


class ChangeAlert(Message):
    """Acknowledge or resolve an alert; ``note`` is kept in its history."""

    id: Whole = Field(ge=1, le=2**31 - 1)
    note: Note = ""


class ListEvents(Message):
    """The audited events after ``after_id``, oldest first: a subscriber's durable cursor."""

    after_id: int = Field(default=0, ge=0, le=2**31 - 1)
    alert_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    kind: EventKind | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)


class EventList(Message):
    events: list[AlertEvent]
    last_id: int = Field(description="Pass it as after_id to read on (after_id if none)")


class Evaluate(Message):
    """One window's metrics from a source, evaluated against every enabled rule."""

    source: Source
    metrics: Metrics
    window_start: Time
    window_end: Time
    subject: Subject = Field(default_factory=dict)
    reference: References | None = None
    links: Links | None = None


class Evaluation(Message):
    alerts: list[Alert] = Field(description="Alerts raised by the window or still open")


# -- deliveries ---------------------------------------------------------------------------


class Attempt(Message):
    at: int
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: float


class Delivery(Message):
    id: int
    alert_id: int | None
    event_id: int | None
    channel: str
    channel_kind: ChannelKind
    event: DeliveryEvent
    status: DeliveryStatus
    attempts: list[Attempt]
    max_attempts: int
    last_error: str
    next_attempt_at: int
    created_at: int
    updated_at: int
    sent_at: int | None = None


class ListDeliveries(Message):
    alert_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    channel: AssetName | None = None
    status: DeliveryStatus | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)


class DeliveryList(Message):
    deliveries: list[Delivery]
