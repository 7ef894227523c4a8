"""How fresh each feature view's online values are, and alerts when one goes stale.

A view's freshness is the age of the newest event time materialized into the online store
(its watermark): ``now - watermark``. ``get_feature_freshness`` reports it per view, with
the view's TTL (past it, every online value of the view has expired). The server's
:class:`FreshnessCheck` hands the ages to the alert rules every ``interval_s`` (source
``features``, metric ``freshness.age_seconds``, subject ``{"feature_view": NAME}``), so a
rule such as ``freshness.age_seconds > 3600`` turns a materialization that stopped into an
alert, the way a monitor's rule turns drift into one.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mloop.core.http import ServerParts
from mloop.core.operations import Message
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.features import tables as t
from mloop.features.ops import operations
from mloop.features.schemas import FeatureViewSpec
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.features")

CHECK_INTERVAL_S = 60.0
ACTOR = "mloop"


class GetFreshness(Message):
    view: str | None = Field(default=None, max_length=256, description="One view; all if None")


class ViewFreshness(Message):
    view: str
    online: bool
    ttl_seconds: int | None
    watermark: int | None = Field(description="Newest event time materialized, ms")
    materialized_at: int | None
    rows: int
    age_seconds: float | None = Field(description="now - watermark; None if never materialized")
    expired: bool = Field(description="Older than the TTL: every online value has expired")


class FreshnessList(Message):
    views: list[ViewFreshness]
    now: int


def _views(ctx: Context) -> dict[str, FeatureViewSpec]:
    o, d = t.feature_objects, t.feature_definitions
    rows = ctx.conn.execute(
        select(d.c.name, d.c.spec_json)
        .join(o, (d.c.kind == o.c.kind) & (d.c.name == o.c.name))
        .where(
            o.c.kind == "feature_view",
            o.c.removed.is_(False),
            d.c.version == o.c.latest_version,
        )
    )
    return {r.name: FeatureViewSpec.model_validate_json(r.spec_json) for r in rows}


def freshness(ctx: Context, now: int, view: str | None = None) -> list[ViewFreshness]:
    views = _views(ctx)
    m = t.feature_materializations
    marks = {r.view: r for r in ctx.conn.execute(select(m))}
    found = []
    for name in sorted(views):
        if view is not None and name != view:
            continue
        spec = views[name]
        mark = marks.get(name)
        watermark = None if mark is None else mark.watermark
        age = None if watermark is None else max(0.0, (now - watermark) / 1000)
        ttl = spec.ttl_seconds
        found.append(
            ViewFreshness(
                view=name,
                online=spec.online,
                ttl_seconds=ttl,
                watermark=watermark,
                materialized_at=None if mark is None else mark.materialized_at,
                rows=0 if mark is None else mark.rows,
                age_seconds=age,
                expired=age is not None and ttl is not None and age > ttl,
            )
        )
    return found


@operations.get("/freshness", GetFreshness, FreshnessList)
def get_feature_freshness(ctx: Context, req: GetFreshness) -> FreshnessList:
    """Each feature view's online freshness: the age of its newest materialized event."""
    from mloop.core.errors import NotFoundError

    now = now_ms()
    views = freshness(ctx, now, req.view)
    if req.view is not None and not views:
        raise NotFoundError(f"feature view {req.view!r} does not exist", field="view")
    return FreshnessList(views=views, now=now)


def evaluate_freshness(ctx: Context, now: int) -> int:
    """Hand each materialized online view's age to the alert rules; the alerts raised."""
    from mloop.alerts import evaluate_rules

    raised = 0
    for view in freshness(ctx, now):
        if not view.online or view.age_seconds is None:
            continue
        metrics: dict[str, float | None] = {
            "freshness.age_seconds": view.age_seconds,
            "freshness.expired": 1.0 if view.expired else 0.0,
        }
        raised += len(
            evaluate_rules(
                ctx,
                "features",
                metrics,
                window_start=view.watermark or now,
                window_end=now,
                subject={"feature_view": view.view},
                links={"feature_view": f"/features/views/{view.view}"},
                now=now,
            )
        )
    return raised


class FreshnessCheck(PeriodicTask):
    """Evaluates the freshness rules every ``interval_s`` (see the module docstring)."""

    def __init__(self, runtime: Runtime, *, interval_s: float = CHECK_INTERVAL_S) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-feature-freshness")
        self.runtime = runtime

    def run_once(self, now: int | None = None) -> int:
        at = now_ms() if now is None else now

        def step(ctx: Context) -> int:
            return evaluate_freshness(ctx, at)

        return int(self.runtime.run(step, write=True, actor=ACTOR))


def features_http(parts: ServerParts) -> list[Any]:
    """Start the freshness check with the server and stop it at shutdown."""
    check = FreshnessCheck(parts.runtime)

    async def start() -> None:
        check.start()

    async def close() -> None:
        await run_in_threadpool(check.close)

    parts.on_start.append(start)
    parts.on_close.append(close)
    parts.state["feature_freshness"] = check
    return []
