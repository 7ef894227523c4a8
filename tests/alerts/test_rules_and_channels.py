"""Rules and channels through the SDK: created, read (secrets masked), replaced, deleted,
and refused with the field named when malformed or hostile."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.client import Client
from mloop.core.config import Settings
from mloop.core.errors import ConflictError, NotFoundError, ValidationError

WEBHOOK = {"kind": "webhook", "url": "https://hooks.example.com/services/T1/B2/sekrit?x=1"}


@pytest.fixture
def client(settings: Settings) -> Client:
    return Client()


def _refused(client: Client, operation: str, **fields: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        client.call(operation, **fields)
    return caught.value


def test_the_default_spend_rule_exists(client: Client) -> None:
    rules = client.call("list_alert_rules").rules
    spend = next(r for r in rules if r.name == "gateway-spend-spike")
    assert (spend.source, spend.metric, spend.operator, spend.threshold) == (
        "gateway",
        "gateway.spend.spike_ratio",
        ">=",
        3.0,
    )
    assert spend.enabled and spend.auto_resolve and spend.severity == "warning"


def test_rule_lifecycle(client: Client) -> None:
    client.call("create_alert_channel", name="ops-log", config={"kind": "log"})
    created = client.call(
        "create_alert_rule",
        name="churn-drift",
        source="monitor",
        metric="drift.column.*.score",
        subject={"endpoint": "churn"},
        threshold=0.3,
        consecutive=2,
        severity="critical",
        cooldown_seconds=0,
        channels=["ops-log"],
        description="PSI above 0.3 two hours running",
    )
    assert created.id > 0 and created.channels == ["ops-log"] and created.consecutive == 2
    got = client.call("get_alert_rule", name="churn-drift")
    assert got == created
    with pytest.raises(ConflictError, match="already exists"):
        client.call("create_alert_rule", name="CHURN-drift", metric="x", threshold=1)
    updated = client.call(
        "update_alert_rule", name="churn-drift", metric="drift.share", threshold=0.5, enabled=False
    )
    assert (updated.metric, updated.enabled, updated.channels) == ("drift.share", False, [])
    assert updated.created_at == created.created_at
    client.call("delete_alert_rule", name="churn-drift")
    with pytest.raises(NotFoundError, match="does not exist"):
        client.call("get_alert_rule", name="churn-drift")
    with pytest.raises(NotFoundError):
        client.call("update_alert_rule", name="churn-drift", metric="x", threshold=1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"threshold": None}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"consecutive": 0}, "consecutive"),
        ({"cooldown_seconds": -1}, "cooldown_seconds"),
        ({"operator": "=="}, "operator"),
        ({"kind": "ratio"}, "kind"),
        ({"severity": "page"}, "severity"),
        ({"metric": ""}, "metric"),
        ({"metric": "a\x00b"}, "metric"),
        ({"metric": "m" * 251}, "metric"),
        ({"source": "s\n"}, "source"),
        ({"subject": {"endpoint": "x\x00"}}, "subject.endpoint"),
        ({"subject": {"bad key!": "x"}}, "subject"),
        ({"name": "n" * 257}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"channels": ["a", "a"]}, "channels"),
        ({"description": "d" * 2001}, "description"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_malformed_rules_name_the_field(client: Client, fields: dict[str, Any], field: str) -> None:
    request = {"name": "r", "metric": "drift.share", "threshold": 0.3, **fields}
    request = {k: v for k, v in request.items() if v is not None}
    error = _refused(client, "create_alert_rule", **request)
    assert error.field == field, error.message
    assert client.call("list_alert_rules").rules[-1].name == "gateway-spend-spike"


def test_a_rule_needs_its_channels_to_exist(client: Client) -> None:
    with pytest.raises(NotFoundError, match="channel 'pager' does not exist") as caught:
        client.call("create_alert_rule", name="r", metric="m", threshold=1, channels=["pager"])
    assert caught.value.field == "channels"


def test_channels_are_read_with_secrets_masked(client: Client) -> None:
    client.call(
        "create_alert_channel",
        name="hook",
        config={**WEBHOOK, "headers": {"Authorization": "Bearer tok-123"}},
    )
    client.call(
        "create_alert_channel",
        name="mail",
        config={
            "kind": "email",
            "host": "smtp.example.com",
            "port": 587,
            "sender": "mloop@example.com",
            "to": ["ops@example.com"],
            "username": "mloop",
            "password": "hunter2",
            "security": "starttls",
        },
        on_resolve=False,
    )
    client.call(
        "create_alert_channel", name="slack", config={"kind": "slack", "url": WEBHOOK["url"]}
    )
    listed = {c.name: c for c in client.call("list_alert_channels").channels}
    assert listed["hook"].config["url"] == "https://hooks.example.com/***"
    assert listed["hook"].config["headers"] == {"Authorization": "***"}
    assert listed["slack"].config["url"] == "https://hooks.example.com/***"
    assert listed["mail"].config["password"] == "***"
    assert listed["mail"].config["username"] == "mloop"
    assert listed["mail"].on_resolve is False
    shown = str([c.model_dump() for c in listed.values()])
    assert "sekrit" not in shown and "tok-123" not in shown and "hunter2" not in shown
    assert "sekrit" not in str(client.call("get_alert_channel", name="hook").model_dump())


def test_replacing_and_deleting_channels(client: Client) -> None:
    client.call("create_alert_channel", name="hook", config=WEBHOOK)
    with pytest.raises(ConflictError, match="pass replace"):
        client.call("create_alert_channel", name="hook", config={"kind": "log"})
    replaced = client.call(
        "create_alert_channel", name="hook", config={"kind": "log", "level": "error"}, replace=True
    )
    assert replaced.kind == "log" and replaced.config == {"kind": "log", "level": "error"}
    client.call("create_alert_rule", name="r", metric="m", threshold=1, channels=["hook"])
    with pytest.raises(ConflictError, match="used by rule 'r'"):
        client.call("delete_alert_channel", name="hook")
    client.call("delete_alert_rule", name="r")
    client.call("delete_alert_channel", name="hook")
    assert client.call("list_alert_channels").channels == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"kind": "pager", "url": "https://x.example"}, "config"),
        ({"kind": "webhook"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "ftp://x.example/a"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "javascript:alert(1)"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "http://"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "http://x.example:99999/"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "http://x.example/a b"}, "config.webhook.url"),
        ({"kind": "webhook", "url": "https://x.example/" + "a" * 2000}, "config.webhook.url"),
        (
            {"kind": "webhook", "url": "https://x.example", "timeout_s": 0},
            "config.webhook.timeout_s",
        ),
        (
            {"kind": "webhook", "url": "https://x", "max_attempts": 11},
            "config.webhook.max_attempts",
        ),
        (
            {"kind": "webhook", "url": "https://x", "headers": {"A": "b\r\nc"}},
            "config.webhook.headers.A",
        ),
        (
            {"kind": "webhook", "url": "https://x", "headers": {"A B": "c"}},
            "config.webhook.headers",
        ),
        ({"kind": "slack", "url": "not a url"}, "config.slack.url"),
        (
            {"kind": "email", "host": "smtp.example.com", "sender": "a@b.c", "to": []},
            "config.email.to",
        ),
        (
            {"kind": "email", "host": "smtp.example.com", "sender": "nobody", "to": ["a@b.c"]},
            "config.email.sender",
        ),
        (
            {"kind": "email", "host": "bad host", "sender": "a@b.c", "to": ["a@b.c"]},
            "config.email.host",
        ),
        (
            {"kind": "email", "host": "h", "sender": "a@b.c", "to": ["a@b.c"], "port": 0},
            "config.email.port",
        ),
        ({"kind": "log", "level": "debug"}, "config.log.level"),
        ({"kind": "log", "colour": "red"}, "config.log.colour"),
    ],
)
def test_malformed_channels_name_the_field(
    client: Client, config: dict[str, Any], field: str
) -> None:
    error = _refused(client, "create_alert_channel", name="c", config=config)
    assert error.field == field, error.message
    assert client.call("list_alert_channels").channels == []


def test_an_unknown_channel_kind_says_which_exist(client: Client) -> None:
    error = _refused(client, "create_alert_channel", name="c", config={"kind": "pager"})
    assert "webhook" in error.message and "email" in error.message
