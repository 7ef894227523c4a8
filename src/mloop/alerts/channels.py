"""Notification channels: where alerts are sent (a JSON webhook, a Slack-compatible webhook,
e-mail over SMTP, the server's log). Admins create, replace and delete them; readers see
them with their secrets masked.

Secrets are what a reader could use to post to the channel or log in to it: the path and
query of a webhook URL (incoming-webhook URLs carry their token there), header values and
the SMTP password. They are stored in the metadata database and never returned by a read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, func, insert, select, update

from mloop.alerts import tables as t
from mloop.alerts.ops import operations
from mloop.alerts.schemas import (
    AlertChannel,
    ChannelConfig,
    ChannelList,
    ChannelName,
    CreateChannel,
    Delivery,
)
from mloop.core.errors import ConflictError, NotFoundError
from mloop.core.naming import check_asset_name
from mloop.core.operations import Empty
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.store.context import Context

MASK = "***"
_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_CONFIG = TypeAdapter(ChannelConfig)


def check_channel_name(value: object, field: str = "name") -> str:
    return check_asset_name(value, field, what="channel name")


def mask_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, with ``/***`` when more follows (a path or
    query, where incoming-webhook tokens live). Read by pattern, so that even a URL no
    parser takes (a bad IPv6 address) is masked rather than refused."""
    match = _URL_START.match(url)
    if match is None:
        return MASK
    shown = match.group(0)
    rest = url[len(shown) :]
    return shown + ("/" + MASK if rest.strip("/") else "")


def masked_config(config: dict[str, Any]) -> dict[str, Any]:
    """A channel's stored configuration as reads show it."""
    shown = dict(config)
    if "url" in shown:
        shown["url"] = mask_url(str(shown["url"]))
    if shown.get("headers"):
        shown["headers"] = dict.fromkeys(shown["headers"], MASK)
    if shown.get("password"):
        shown["password"] = MASK
    return shown


def parse_config(raw: str) -> Any:
    """A stored configuration as its typed model (WebhookConfig, EmailConfig...)."""
    return _CONFIG.validate_python(json.loads(raw))


def channel_message(row: Any) -> AlertChannel:
    return AlertChannel(
        id=row.id,
        name=row.name,
        kind=row.kind,
        config=masked_config(json.loads(row.config_json)),
        enabled=bool(row.enabled),
        on_resolve=bool(row.on_resolve),
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def load_channel_row(ctx: Context, name: str) -> Any:
    check_channel_name(name)
    row = ctx.conn.execute(select(t.alert_channels).where(t.alert_channels.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"alert channel {name!r} does not exist", field="name")
    return row


@operations.post("/channels/create", CreateChannel, AlertChannel, role="admin", quick=True)
def create_alert_channel(ctx: Context, req: CreateChannel) -> AlertChannel:
    """Create a channel, or replace one of that name with ``replace``."""
    name = check_channel_name(req.name)
    description = check_text(req.description, "description", max_length=2000)
    c = t.alert_channels.c
    existing = ctx.conn.execute(
        select(t.alert_channels).where(func.lower(c.name) == name.lower()).with_for_update()
    ).first()
    now = now_ms()
    values = {
        "kind": req.config.kind,
        "config_json": req.config.model_dump_json(),
        "enabled": req.enabled,
        "on_resolve": req.on_resolve,
        "description": description,
        "updated_at": now,
    }
    if existing is not None:
        if not req.replace or existing.name != name:
            raise ConflictError(
                f"alert channel {existing.name!r} already exists; pass replace to change it",
                field="name",
            )
        ctx.conn.execute(update(t.alert_channels).where(c.id == existing.id).values(**values))
    else:
        ctx.conn.execute(
            insert(t.alert_channels).values(
                name=name, created_by=ctx.actor, created_at=now, **values
            )
        )
    return channel_message(load_channel_row(ctx, name))


@operations.post("/channels/delete", ChannelName, Empty, role="admin", quick=True)
def delete_alert_channel(ctx: Context, req: ChannelName) -> Empty:
    """Delete a channel that no rule names (remove it from those rules first)."""
    row = load_channel_row(ctx, req.name)
    users = [
        name
        for name, channels in ctx.conn.execute(
            select(t.alert_rules.c.name, t.alert_rules.c.channels_json)
        )
        if row.name in json.loads(channels)
    ]
    if users:
        raise ConflictError(
            f"alert channel {row.name!r} is used by rule {users[0]!r}"
            + (f" and {len(users) - 1} more" if len(users) > 1 else "")
            + "; update or delete those rules first",
            field="name",
        )
    ctx.conn.execute(delete(t.alert_channels).where(t.alert_channels.c.id == row.id))
    return Empty()


@operations.get("/channels/get", ChannelName, AlertChannel, quick=True)
def get_alert_channel(ctx: Context, req: ChannelName) -> AlertChannel:
    """One channel, secrets masked."""
    return channel_message(load_channel_row(ctx, req.name))


@operations.get("/channels/list", Empty, ChannelList, quick=True)
def list_alert_channels(ctx: Context, req: Empty) -> ChannelList:
    """Every channel by name, secrets masked."""
    rows = ctx.conn.execute(select(t.alert_channels).order_by(t.alert_channels.c.name))
    return ChannelList(channels=[channel_message(r) for r in rows])


@operations.post("/channels/test", ChannelName, Delivery, role="admin", quick=True)
def test_alert_channel(ctx: Context, req: ChannelName) -> Delivery:
    """Queue a test message to a channel (one attempt); follow it with list_alert_deliveries."""
    from mloop.alerts.delivery import delivery_message, enqueue_test

    row = load_channel_row(ctx, req.name)
    return delivery_message(enqueue_test(ctx, row, now=now_ms()))
