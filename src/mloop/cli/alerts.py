"""``mloop alerts``: alert rules, notification channels, and the alerts themselves (list,
show, acknowledge, resolve), with their deliveries."""

from __future__ import annotations

import os
import time
from enum import StrEnum
from typing import Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import (
    cell,
    console,
    fail,
    fmt_time,
    info,
    make_table,
    print_json,
    print_mapping,
    print_table,
)
from mloop.core.errors import ValidationError

app = typer.Typer(
    help="Alerts: rules over monitor and gateway metrics, channels that notify people "
    "(webhook, Slack, e-mail, log), and the alerts raised, acknowledged and resolved.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="Alert rules (changing them needs admin).", no_args_is_help=True)
channels_app = typer.Typer(
    help="Notification channels (changing them needs admin; reads mask secrets).",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")
app.add_typer(channels_app, name="channels")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NoteOption = Annotated[str, typer.Option("--note", "-n", help="Why: kept in the history.")]
AlertArgument = Annotated[int, typer.Argument(help="Alert id.")]


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Status(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Kind(StrEnum):
    webhook = "webhook"
    slack = "slack"
    email = "email"
    log = "log"


# Names copied into commands, and short words that read badly folded.
_WHOLE = frozenset({"name", "rule", "channel", "severity", "enabled", "kind", "event", "count"})


def _print_names_whole(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """A table whose name columns are never folded (they are copied into commands); the
    other columns give way instead."""
    from rich.text import Text

    table = make_table(title, columns)
    for column in table.columns:
        if column.header in _WHOLE:
            column.no_wrap = True
    for row in rows:
        table.add_row(*(Text(cell(v)) for v in row))
    console().print(table)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a value without ``=`` names the option at fault."""
    found: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ValidationError(
                f"{option} {value!r} must look like KEY=VALUE", field=option.lstrip("-")
            )
        found[key] = rest
    return found


# -- rules --------------------------------------------------------------------------------


@rules_app.command("add")
def add_rule(
    name: Annotated[str, typer.Argument(help="Rule name, e.g. churn-drift.")],
    metric: Annotated[
        str, typer.Option("--metric", "-m", help="Metric name or glob: drift.column.*.score.")
    ],
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", "-t", help="The bound; with --change a fraction (0.5 is +50%)."
        ),
    ],
    op: Annotated[str, typer.Option("--op", help="Breached when VALUE OP THRESHOLD.")] = ">",
    change: Annotated[
        bool,
        typer.Option("--change", help="Compare the change against the reference, not the value."),
    ] = False,
    source: Annotated[
        str, typer.Option("--source", "-s", help="Source name or glob: monitor, gateway.")
    ] = "*",
    subject: Annotated[
        list[str] | None,
        typer.Option("--subject", help="KEY=GLOB the subject must match; repeatable."),
    ] = None,
    consecutive: Annotated[
        int, typer.Option("--consecutive", "-N", help="Windows in a row that must breach.")
    ] = 1,
    severity: Annotated[Severity, typer.Option("--severity")] = Severity.warning,
    cooldown: Annotated[
        int, typer.Option("--cooldown", help="Seconds after a resolution with no new alert.")
    ] = 900,
    no_auto_resolve: Annotated[
        bool, typer.Option("--no-auto-resolve", help="Only people resolve its alerts.")
    ] = False,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="Channel to notify; repeatable.")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the rule of that name.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add an alert rule, e.g. --metric drift.share --op '>' --threshold 0.3."""
    spec = {
        "name": name,
        "source": source,
        "metric": metric,
        "subject": _pairs(subject, "--subject"),
        "kind": "change" if change else "threshold",
        "operator": op,
        "threshold": threshold,
        "consecutive": consecutive,
        "severity": severity.value,
        "cooldown_seconds": cooldown,
        "auto_resolve": not no_auto_resolve,
        "channels": channel or [],
        "enabled": not disabled,
        "description": description,
    }
    rule = get_client().call("update_alert_rule" if replace else "create_alert_rule", **spec)
    if as_json:
        print_json(rule.model_dump())
        return
    info(f"{'Replaced' if replace else 'Added'} rule {rule.name}: {_when(rule)}.")


def _when(rule: Any) -> str:
    what = f"change of {rule.metric}" if rule.kind == "change" else rule.metric
    text = f"{what} {rule.operator} {rule.threshold:g}"
    if rule.consecutive > 1:
        text += f" for {rule.consecutive} windows"
    return text


@rules_app.command("list")
def list_rules(as_json: JsonOption = False) -> None:
    """List the alert rules."""
    rules = get_client().call("list_alert_rules").rules
    if as_json:
        print_json([r.model_dump() for r in rules])
        return
    _print_names_whole(
        "Alert rules",
        ["name", "when", "severity", "channels", "enabled"],
        [
            (r.name, _rule_scope(r), r.severity, ", ".join(r.channels) or "-", r.enabled)
            for r in rules
        ],
    )


def _rule_scope(rule: Any) -> str:
    """``source: metric op threshold [subject]`` in a few words."""
    subject = ", ".join(f"{k}={v}" for k, v in rule.subject.items())
    return f"{rule.source}: {_when(rule)}" + (f" [{subject}]" if subject else "")


@rules_app.command("remove")
def remove_rule(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
    """Remove a rule (its alerts and their history stay)."""
    get_client().call("delete_alert_rule", name=name)
    info(f"Removed rule {name}.")


# -- channels -----------------------------------------------------------------------------


@channels_app.command("add")
def add_channel(
    name: Annotated[str, typer.Argument(help="Channel name, e.g. ops-slack.")],
    kind: Annotated[Kind, typer.Option("--kind", "-k", help="webhook, slack, email or log.")],
    url: Annotated[str | None, typer.Option("--url", help="webhook, slack: where to POST.")] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="webhook: NAME=VALUE sent with each POST; repeatable."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="email: the SMTP server.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="email: its port (25).")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="email: the sender.")] = None,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="email: a recipient; repeatable.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="email: SMTP login.")] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env", help="email: the environment variable holding the SMTP password."
        ),
    ] = None,
    security: Annotated[
        str | None, typer.Option("--security", help="email: none, starttls or ssl.")
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="log: info, warning or error.")
    ] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds per try.")] = None,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts")] = None,
    backoff: Annotated[
        float | None, typer.Option("--backoff", help="Seconds before the 2nd try (doubling).")
    ] = None,
    no_resolve: Annotated[
        bool, typer.Option("--no-resolve", help="Send new alerts only, not resolutions.")
    ] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Replace the channel.")] = False,
) -> None:
    """Add a channel: --kind webhook|slack --url URL, --kind email --host H --from A --to B,
    or --kind log."""
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise ValidationError(
                f"--password-env {password_env}: that environment variable is not set",
                field="password-env",
            )
    options: dict[str, Any] = {
        "url": url,
        "headers": _pairs(header, "--header") if header else None,
        "host": host,
        "port": port,
        "sender": sender,
        "to": to,
        "username": username,
        "password": password,
        "security": security,
        "level": level,
        "timeout_s": timeout,
        "max_attempts": max_attempts,
        "backoff_s": backoff,
    }
    config = {"kind": kind.value, **{k: v for k, v in options.items() if v is not None}}
    channel = get_client().call(
        "create_alert_channel",
        name=name,
        config=config,
        enabled=not disabled,
        on_resolve=not no_resolve,
        description=description,
        replace=replace,
    )
    info(f"{'Replaced' if replace else 'Added'} {channel.kind} channel {channel.name}.")


@channels_app.command("list")
def list_channels(as_json: JsonOption = False) -> None:
    """List the channels (secrets masked)."""
    channels = get_client().call("list_alert_channels").channels
    if as_json:
        print_json([c.model_dump() for c in channels])
        return
    _print_names_whole(
        "Alert channels",
        ["name", "kind", "where", "resolutions", "enabled"],
        [(c.name, c.kind, _where(c.config), c.on_resolve, c.enabled) for c in channels],
    )


def _where(config: dict[str, Any]) -> str:
    if config.get("url"):
        return str(config["url"])
    if config.get("host"):
        return f"{', '.join(config.get('to') or [])} via {config['host']}:{config.get('port')}"
    return f"level {config.get('level', '-')}"


@channels_app.command("remove")
def remove_channel(name: Annotated[str, typer.Argument(help="Channel name.")]) -> None:
    """Remove a channel no rule uses."""
    get_client().call("delete_alert_channel", name=name)
    info(f"Removed channel {name}.")


@channels_app.command("test")
def test_channel(
    name: Annotated[str, typer.Argument(help="Channel name.")],
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for the server to send it.")
    ] = 60.0,
) -> None:
    """Send a test message through a channel; exits 1 if it could not be delivered."""
    client = get_client()
    queued = client.call("test_alert_channel", name=name)
    runtime = _embedded_runtime(client)
    if runtime is not None:  # no server to send it: send it from here
        from mloop.alerts.delivery import deliver_due

        deliver_due(runtime)
    deadline = time.monotonic() + wait
    delivery = queued
    while delivery.status not in ("sent", "failed") and time.monotonic() < deadline:
        time.sleep(0.25)
        found = client.call("list_alert_deliveries", channel=name, max_results=20).deliveries
        delivery = next((d for d in found if d.id == queued.id), delivery)
    if delivery.status == "sent":
        info(f"Sent a test message through {name}.")
        return
    if delivery.status == "failed":
        fail(f"the test message through {name} failed: {delivery.last_error}", "channel")
    fail(f"the test message through {name} was not sent within {wait:g} s: is the server up?")


def _embedded_runtime(client: Any) -> Any:
    """The store's runtime when the client works on it directly (no server)."""
    return getattr(getattr(client, "_backend", None), "runtime", None)


# -- alerts -------------------------------------------------------------------------------


def _subject(subject: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(subject.items())) or "-"


@app.command("list")
def list_alerts(
    status: Annotated[Status | None, typer.Option("--status")] = None,
    severity: Annotated[Severity | None, typer.Option("--severity")] = None,
    source: Annotated[str | None, typer.Option("--source")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="KEY=VALUE, e.g. endpoint=churn.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first."""
    found = (
        get_client()
        .call(
            "list_alerts",
            status=status.value if status else None,
            severity=severity.value if severity else None,
            source=source,
            rule=rule,
            subject=subject,
            max_results=limit,
        )
        .alerts
    )
    if as_json:
        print_json([a.model_dump() for a in found])
        return
    _print_names_whole(
        "Alerts",
        ["id", "status", "severity", "rule", "subject", "message", "count", "created"],
        [
            (
                a.id,
                a.status,
                a.severity,
                a.rule,
                _subject(a.subject),
                a.message,
                a.count,
                fmt_time(a.first_seen),
            )
            for a in found
        ],
    )


@app.command("show")
def show(alert_id: AlertArgument, as_json: JsonOption = False) -> None:
    """One alert with its history."""
    detail = get_client().call("get_alert", id=alert_id)
    if as_json:
        print_json(detail.model_dump())
        return
    a = detail.alert
    print_mapping(
        f"Alert {a.id}",
        {
            "rule": a.rule,
            "status": a.status,
            "severity": a.severity,
            "subject": _subject(a.subject),
            "metric": a.metric,
            "value": a.value,
            "message": a.message,
            "count": a.count,
            **{f"link {k}": v for k, v in a.links.items()},
        },
        sort=False,
    )
    print_table(
        "History",
        ["when", "event", "by", "note"],
        [(fmt_time(e.timestamp), e.kind, e.actor, e.note) for e in detail.events],
    )


@app.command("ack")
def acknowledge(alert_id: AlertArgument, note: NoteOption = "") -> None:
    """Acknowledge an alert: someone is on it."""
    alert = get_client().call("acknowledge_alert", id=alert_id, note=note)
    info(f"Alert {alert.id} acknowledged by {alert.acknowledged_by}.")


@app.command("resolve")
def resolve(alert_id: AlertArgument, note: NoteOption = "") -> None:
    """Resolve an alert."""
    alert = get_client().call("resolve_alert", id=alert_id, note=note)
    info(f"Alert {alert.id} resolved by {alert.resolved_by}.")


@app.command("deliveries")
def deliveries(
    alert_id: Annotated[int | None, typer.Option("--alert", help="Of one alert.")] = None,
    channel: Annotated[str | None, typer.Option("--channel")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only the failed ones.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Deliveries to channels with their attempts; exits 1 when --failed finds any."""
    found = (
        get_client()
        .call(
            "list_alert_deliveries",
            alert_id=alert_id,
            channel=channel,
            status="failed" if failed else None,
        )
        .deliveries
    )
    if as_json:
        print_json([d.model_dump() for d in found])
    else:
        _print_names_whole(
            "Deliveries",
            ["id", "alert", "channel", "event", "status", "attempts", "last error", "created"],
            [
                (
                    d.id,
                    d.alert_id or "-",
                    d.channel,
                    d.event,
                    d.status,
                    len(d.attempts),
                    d.last_error or "-",
                    fmt_time(d.created_at),
                )
                for d in found
            ],
        )
    if failed and found:
        raise typer.Exit(1)


@app.command("deliver")
def deliver() -> None:
    """Send the deliveries that are due, from this process (without a server running)."""
    client = get_client()
    runtime = _embedded_runtime(client)
    if runtime is None:
        fail(
            f"{client.tracking_uri} is a server: its own dispatcher sends deliveries; see "
            "them with `mloop alerts deliveries`"
        )
    from mloop.alerts.delivery import deliver_due

    done = deliver_due(runtime)
    sent = sum(d.status == "sent" for d in done)
    info(f"Sent {sent} of {len(done)} due deliveries.")
    if sent < len(done):
        raise typer.Exit(1)
