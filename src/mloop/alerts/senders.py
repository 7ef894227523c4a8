"""Sending one notification once through one channel; the outcome of the attempt.

A sender never raises: whatever goes wrong (a refused connection, a timeout, an HTTP 500,
an SMTP error) is the attempt's ``error``, which the outbox records and retries. Errors
never echo a secret: the channel's URL appears masked, and passwords not at all.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from mloop.alerts.channels import mask_url
from mloop.alerts.payloads import Notification, email_parts, json_body, slack_body, summary
from mloop.alerts.schemas import EmailConfig, LogConfig, SlackConfig, WebhookConfig

log = logging.getLogger("mloop.alerts")

MAX_ERROR = 500
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    status_code: int | None = None
    duration_ms: float = 0.0


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:MAX_ERROR]


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout_s: float) -> Outcome:
    import httpx

    try:
        # No redirects: a webhook that moved is a failure to fix, not a hop to follow.
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=True) as client:
            response = client.post(url, json=body, headers={**headers, "user-agent": "mloop"})
    except httpx.TimeoutException as exc:
        return Outcome(False, f"timed out after {timeout_s:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Outcome(True, status_code=response.status_code)
    reason = response.text[:200].strip()
    return Outcome(
        False,
        f"HTTP {response.status_code} from {mask_url(url)}" + (f": {reason}" if reason else ""),
        response.status_code,
    )


def _email(config: EmailConfig, n: Notification) -> Outcome:
    subject, text = email_parts(n)
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message["Subject"] = subject
    message.set_content(text)
    try:
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password or "")
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    if refused:
        return Outcome(False, "the server refused " + ", ".join(sorted(refused)))
    return Outcome(True)


def send(config: Any, n: Notification) -> Outcome:
    """Send ``n`` once through the channel ``config`` describes."""
    started = time.perf_counter()
    secrets: list[str] = []
    if isinstance(config, WebhookConfig):
        secrets = [config.url, *config.headers.values()]
        outcome = _post(config.url, json_body(n), dict(config.headers), config.timeout_s)
    elif isinstance(config, SlackConfig):
        secrets = [config.url]
        outcome = _post(config.url, slack_body(n), {}, config.timeout_s)
    elif isinstance(config, EmailConfig):
        secrets = [config.password or ""]
        outcome = _email(config, n)
    elif isinstance(config, LogConfig):
        log.log(_LEVELS[config.level], "alert %s: %s", n.event, summary(n))
        outcome = Outcome(True)
    else:  # a configuration stored by a newer version of mloop
        outcome = Outcome(False, f"unknown channel kind {type(config).__name__}")
    return Outcome(
        outcome.ok,
        _scrub(outcome.error, secrets),
        outcome.status_code,
        round((time.perf_counter() - started) * 1000, 3),
    )
