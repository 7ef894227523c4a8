"""What a channel sends: a summary line, the generic JSON body, the Slack-compatible body
(``{"text", "blocks"}``) and the e-mail's subject and text, built from one alert event.

Links are the server's paths (``/alerts/12``, the window's page); with ``MLOOP_PUBLIC_URL``
set (``https://mloop.example.com``) they become absolute URLs a chat client can open.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from mloop.alerts.schemas import Alert

PUBLIC_URL_ENV = "MLOOP_PUBLIC_URL"
MAX_TEXT = 3000  # Slack's limit for one text block


@dataclass(frozen=True)
class Notification:
    """One thing to tell a channel: an alert raised or resolved (or a channel test)."""

    event: str  # raised | resolved | test
    alert: Alert | None
    actor: str = ""
    note: str = ""
    timestamp: int = 0
    links: dict[str, str] = field(default_factory=dict)


def _absolute(link: str) -> str:
    base = os.environ.get(PUBLIC_URL_ENV, "").rstrip("/")
    return base + link if base and link.startswith("/") else link


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    return f"{value:.6g}"


def _subject(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.subject.items())) or "-"


def summary(n: Notification) -> str:
    """One line: what happened, to what."""
    if n.alert is None:
        return "mloop test message: this channel is set up"
    a = n.alert
    head = {"raised": a.severity.upper(), "resolved": "RESOLVED"}.get(n.event, n.event.upper())
    return f"[{head}] {a.rule} on {_subject(a)}: {a.message}"[:MAX_TEXT]


def links(n: Notification) -> dict[str, str]:
    """The alert's page and its window's links, absolute when the public URL is known."""
    return {name: _absolute(url) for name, url in n.links.items()}


def json_body(n: Notification) -> dict[str, Any]:
    """The generic webhook's body."""
    return {
        "event": n.event,
        "text": summary(n),
        "alert": None if n.alert is None else n.alert.model_dump(mode="json"),
        "actor": n.actor,
        "note": n.note,
        "timestamp": n.timestamp,
        "links": links(n),
    }


def _mrkdwn(text: str) -> str:
    """Text safe inside Slack's mrkdwn: ``& < >`` escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` (the fallback and notification
    line) and ``blocks`` (a header, the details, the links)."""
    text = summary(n)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}
    ]
    if n.alert is not None:
        a = n.alert
        fields = [
            f"*Rule*\n{_mrkdwn(a.rule)}",
            f"*Severity*\n{a.severity}",
            f"*Subject*\n{_mrkdwn(_subject(a))}",
            f"*Metric*\n{_mrkdwn(a.metric)} = {_number(a.value)}",
        ]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields]}
        )
        if n.note:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(n.note)[:MAX_TEXT]}}
            )
    shown = [
        f"<{_mrkdwn(url)}|{_mrkdwn(name)}>" if url.startswith("http") else f"{name}: {url}"
        for name, url in links(n).items()
    ]
    if shown:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " · ".join(shown)[:MAX_TEXT]}],
            }
        )
    return {"text": text, "blocks": blocks}


def email_parts(n: Notification) -> tuple[str, str]:
    """The e-mail's subject (one line) and plain-text body."""
    subject = summary(n).replace("\r", " ").replace("\n", " ")[:200]
    lines = [summary(n), ""]
    if n.alert is not None:
        a = n.alert
        lines += [
            f"rule:      {a.rule}",
            f"severity:  {a.severity}",
            f"status:    {a.status}",
            f"subject:   {_subject(a)}",
            f"metric:    {a.metric} = {_number(a.value)}",
            f"reference: {_number(a.reference)}",
            f"window:    {a.window_start} .. {a.last_window_end} (ms since the epoch, UTC)",
        ]
    if n.note:
        lines += ["", n.note]
    if n.links:
        lines += ["", *(f"{name}: {url}" for name, url in links(n).items())]
    return subject, "\n".join(lines) + "\n"
