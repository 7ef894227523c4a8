"""The deployment audit trail: who moved an endpoint, when, from which deployment to which,
and why. Append-only; it outlives the endpoint."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from mloop.core.naming import check_asset_name
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.serving import tables as t
from mloop.serving.ops import operations
from mloop.serving.schemas import MAX_REASON, DeploymentEvent, EventKind, EventList, ListEvents
from mloop.store.context import Context


def record_event(
    ctx: Context,
    endpoint: str,
    kind: EventKind,
    from_deployment: int | None,
    to_deployment: int | None,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one event (in the caller's transaction)."""
    # NUL cannot be stored in PostgreSQL text; the length is the request's bound.
    reason = check_text(reason, "reason", max_length=MAX_REASON)
    ctx.conn.execute(
        insert(t.deployment_events).values(
            endpoint=endpoint,
            kind=kind,
            from_deployment=from_deployment,
            to_deployment=to_deployment,
            actor=actor or ctx.actor,
            timestamp=now_ms(),
            reason=reason,
            detail_json=json.dumps(detail or {}, sort_keys=True),
        )
    )


@operations.get("/events", ListEvents, EventList)
def list_deployment_events(ctx: Context, req: ListEvents) -> EventList:
    """An endpoint's deployment events, newest first (also after the endpoint is deleted)."""
    e = t.deployment_events
    # Checked although nothing is looked up by it: a name no endpoint can have is a mistake.
    name = check_asset_name(req.endpoint, "endpoint", what="endpoint name")
    rows = ctx.conn.execute(
        select(e).where(e.c.endpoint == name).order_by(e.c.id.desc()).limit(req.max_results)
    )
    return EventList(
        events=[
            DeploymentEvent(
                id=r.id,
                endpoint=r.endpoint,
                kind=r.kind,
                from_deployment=r.from_deployment,
                to_deployment=r.to_deployment,
                actor=r.actor,
                timestamp=r.timestamp,
                reason=r.reason or "",
                detail=json.loads(r.detail_json or "{}"),
            )
            for r in rows
        ]
    )
