"""Delivery through the outbox: a JSON webhook, a Slack-compatible one and e-mail reach
local servers; failures are retried with a growing wait, recorded attempt by attempt, and
end visibly as ``failed``; secrets never appear in what is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.alerts.alerts_testing import (
    HOUR,
    T0,
    add_channel,
    add_rule,
    wait_until,
    webhook_server,
    window,
)
from tests.conftest import free_port

from mloop.alerts.delivery import AlertDispatcher, backoff_ms, deliver_due, list_alert_deliveries
from mloop.alerts.history import resolve_alert
from mloop.alerts.schemas import ChangeAlert, ListDeliveries
from mloop.store.runtime import Runtime


def _deliveries(runtime: Runtime, **filters: Any) -> list[Any]:
    found = runtime.run(
        lambda ctx: list_alert_deliveries(ctx, ListDeliveries(**filters)), write=False
    )
    return list(reversed(found.deliveries))  # oldest first


def _raise_one(runtime: Runtime, channels: list[str], **rule: Any) -> Any:
    add_rule(runtime, threshold=0.3, channels=channels, **rule)
    return window(runtime, 0, {"drift.share": 0.5}, links={"window": "/monitors/churn-drift?w=1"})[
        0
    ]


def test_a_webhook_gets_the_alert_as_json(runtime: Runtime) -> None:
    with webhook_server() as hook:
        add_channel(
            runtime, "hook", {"kind": "webhook", "url": hook.url, "headers": {"X-Token": "t0k"}}
        )
        alert = _raise_one(runtime, ["hook"])
        queued = _deliveries(runtime)
        assert [(d.channel, d.event, d.status, d.attempts) for d in queued] == [
            ("hook", "raised", "pending", [])
        ]
        done = deliver_due(runtime, now=T0 + 2 * HOUR)
        assert [(d.status, d.attempts[0].ok, d.attempts[0].status_code) for d in done] == [
            ("sent", True, 200)
        ]
        assert done[0].sent_at == T0 + 2 * HOUR
        [got] = hook.received
    assert got.path == "/hooks/T123/secret-token"
    assert got.headers["x-token"] == "t0k"
    assert got.headers["content-type"] == "application/json"
    body = got.body
    assert body["event"] == "raised"
    assert body["alert"]["id"] == alert.id and body["alert"]["metric"] == "drift.share"
    assert body["alert"]["subject"] == {"endpoint": "churn"}
    assert body["links"] == {"alert": f"/alerts/{alert.id}", "window": "/monitors/churn-drift?w=1"}
    assert body["text"].startswith("[WARNING] drift on endpoint=churn: drift.share = 0.5")
    assert body["actor"] == "monitor-bot"
    # Nothing is due any more.
    assert deliver_due(runtime, now=T0 + 3 * HOUR) == []


def test_a_failing_webhook_is_retried_with_backoff_then_succeeds(runtime: Runtime) -> None:
    with webhook_server() as hook:
        hook.statuses = [500, 503, 200]
        add_channel(
            runtime,
            "hook",
            {"kind": "webhook", "url": hook.url, "max_attempts": 4, "backoff_s": 10},
        )
        _raise_one(runtime, ["hook"])
        now = T0 + 2 * HOUR
        [first] = deliver_due(runtime, now=now)
        assert first.status == "retrying"
        assert first.attempts[0].status_code == 500
        assert "HTTP 500" in first.last_error and "upstream broke" in first.last_error
        assert first.next_attempt_at == now + 10_000
        assert deliver_due(runtime, now=now + 9_999) == []  # not due yet
        [second] = deliver_due(runtime, now=now + 10_000)
        assert second.status == "retrying" and second.next_attempt_at == now + 10_000 + 20_000
        [third] = deliver_due(runtime, now=now + 30_000)
        assert third.status == "sent" and third.last_error == ""
        assert [a.status_code for a in third.attempts] == [500, 503, 200]
        assert len(hook.received) == 3


def test_a_webhook_that_keeps_failing_ends_failed_and_visible(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with webhook_server() as hook:
        hook.statuses = [500]
        add_channel(
            runtime, "hook", {"kind": "webhook", "url": hook.url, "max_attempts": 2, "backoff_s": 1}
        )
        _raise_one(runtime, ["hook"])
        deliver_due(runtime, now=T0 + 2 * HOUR)
        [last] = deliver_due(runtime, now=T0 + 2 * HOUR + 1000)
    assert last.status == "failed" and len(last.attempts) == 2
    assert _deliveries(runtime, status="failed")[0].id == last.id
    assert "failed after 2 attempts" in caplog.text
    # The error names the host, never the token in the URL's path.
    assert "secret-token" not in last.last_error and "secret-token" not in caplog.text
    assert deliver_due(runtime, now=T0 + 5 * HOUR) == []


def test_a_timeout_is_a_failed_attempt(runtime: Runtime) -> None:
    with webhook_server() as hook:
        hook.delay_s = 3.0
        add_channel(
            runtime,
            "slow",
            {"kind": "webhook", "url": hook.url, "timeout_s": 0.2, "max_attempts": 3},
        )
        _raise_one(runtime, ["slow"])
        [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
        hook.arrived.wait(10)
    assert done.status == "retrying"
    assert done.attempts[0].ok is False and done.attempts[0].status_code is None
    assert "timed out after 0.2 s" in done.last_error


def test_a_refused_connection_is_a_failed_attempt(runtime: Runtime) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook/tok"
    add_channel(runtime, "gone", {"kind": "webhook", "url": url, "max_attempts": 1})
    _raise_one(runtime, ["gone"])
    [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
    assert done.status == "failed" and "ConnectError" in done.last_error
    assert "/hook/tok" not in done.last_error


def test_slack_gets_text_and_blocks(runtime: Runtime) -> None:
    with webhook_server("/services/T1/B2/xyz") as hook:
        add_channel(runtime, "slack", {"kind": "slack", "url": hook.url})
        add_rule(runtime, threshold=0.3, channels=["slack"], severity="critical")
        window(runtime, 0, {"drift.share": 0.5}, subject={"endpoint": "a<b>&c"})
        deliver_due(runtime, now=T0 + 2 * HOUR)
        [got] = hook.received
    body = got.body
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[CRITICAL] drift on endpoint=a<b>&c")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "section" in kinds
    section = next(b for b in body["blocks"] if b["type"] == "section")
    texts = [f["text"] for f in section["fields"]]
    assert "*Subject*\nendpoint=a&lt;b&gt;&amp;c" in texts  # mrkdwn's special characters
    assert "*Metric*\ndrift.share = 0.5" in texts and "*Severity*\ncritical" in texts


def test_resolutions_go_to_channels_that_want_them(runtime: Runtime) -> None:
    with webhook_server() as hook:
        add_channel(runtime, "both", {"kind": "webhook", "url": hook.url})
        add_channel(runtime, "opens-only", {"kind": "log"}, on_resolve=False)
        add_channel(runtime, "off", {"kind": "log"}, enabled=False)
        alert = _raise_one(runtime, ["both", "opens-only", "off"])
        runtime.run(
            lambda ctx: resolve_alert(ctx, ChangeAlert(id=alert.id, note="fixed the feed")),
            write=True,
            actor="carol",
        )
        assert [(d.channel, d.event) for d in _deliveries(runtime)] == [
            ("both", "raised"),
            ("opens-only", "raised"),
            ("both", "resolved"),
        ]
        deliver_due(runtime)  # the resolution was made now, by the clock
        resolved = hook.received[-1].body
    assert resolved["event"] == "resolved"
    assert resolved["actor"] == "carol" and resolved["note"] == "fixed the feed"
    assert resolved["text"].startswith("[RESOLVED] drift on endpoint=churn")


def test_the_log_channel(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    add_channel(runtime, "log", {"kind": "log", "level": "error"})
    _raise_one(runtime, ["log"])
    with caplog.at_level("INFO", logger="mloop.alerts"):
        [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
    assert done.status == "sent"
    record = next(r for r in caplog.records if r.name == "mloop.alerts")
    assert record.levelname == "ERROR" and "drift.share = 0.5" in record.getMessage()


def test_a_deleted_channel_is_a_visible_failure(runtime: Runtime) -> None:
    from sqlalchemy import delete

    from mloop.alerts import tables as t

    add_channel(runtime, "log", {"kind": "log"})
    _raise_one(runtime, ["log"])
    # Deleted behind the API's back (which refuses to delete a channel a rule uses).
    runtime.run(lambda ctx: ctx.conn.execute(delete(t.alert_channels)), write=True)
    [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
    assert done.status == "failed" and "does not exist any more" in done.last_error


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff_ms(2.0, n) for n in (1, 2, 3, 4)] == [2000, 4000, 8000, 16000]
    assert backoff_ms(600, 10) == 3_600_000


def test_the_dispatcher_sends_in_the_background(runtime: Runtime) -> None:
    with webhook_server() as hook:
        add_channel(runtime, "hook", {"kind": "webhook", "url": hook.url})
        dispatcher = AlertDispatcher(runtime, interval_s=0.05)
        dispatcher.start()
        try:
            _raise_one(runtime, ["hook"])
            wait_until(lambda: hook.received)
            wait_until(lambda: _deliveries(runtime)[0].status == "sent")
        finally:
            dispatcher.close()
    assert hook.received[0].body["event"] == "raised"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    """aiosmtpd's server on loopback, keeping what it receives."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_email(runtime: Runtime, smtp: tuple[int, _Inbox]) -> None:
    port, inbox = smtp
    add_channel(
        runtime,
        "mail",
        {
            "kind": "email",
            "host": "127.0.0.1",
            "port": port,
            "sender": "mloop@example.com",
            "to": ["ops@example.com", "ml@example.com"],
        },
    )
    alert = _raise_one(runtime, ["mail"])
    [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
    assert done.status == "sent"
    [envelope] = inbox.messages
    assert envelope.mail_from == "mloop@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "ml@example.com"]
    text = envelope.content.decode()
    assert "Subject: [WARNING] drift on endpoint=churn: drift.share = 0.5" in text
    assert f"alert: /alerts/{alert.id}" in text and "window: /monitors/churn-drift?w=1" in text


def test_email_to_a_server_that_is_not_there(runtime: Runtime) -> None:
    config = {
        "kind": "email",
        "host": "127.0.0.1",
        "port": free_port(),
        "sender": "mloop@example.com",
        "to": ["ops@example.com"],
        "password": "hunter2",
        "username": "u",
        "max_attempts": 1,
    }
    add_channel(runtime, "mail", config)
    _raise_one(runtime, ["mail"])
    [done] = deliver_due(runtime, now=T0 + 2 * HOUR)
    assert done.status == "failed" and "ConnectionRefusedError" in done.last_error
    assert "hunter2" not in done.last_error


def test_a_channel_test_sends_one_message(runtime: Runtime) -> None:
    from mloop.alerts.channels import test_alert_channel
    from mloop.alerts.schemas import ChannelName

    with webhook_server() as hook:
        add_channel(runtime, "hook", {"kind": "webhook", "url": hook.url})
        queued = runtime.run(
            lambda ctx: test_alert_channel(ctx, ChannelName(name="hook")), write=True
        )
        assert (queued.event, queued.status, queued.max_attempts) == ("test", "pending", 1)
        [done] = deliver_due(runtime, now=queued.next_attempt_at)
        assert done.id == queued.id and done.status == "sent"
        assert hook.received[0].body["event"] == "test"
        assert hook.received[0].body["alert"] is None
