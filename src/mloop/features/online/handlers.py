"""The online store's operations: read features (reader), push rows (writer), and the
materialization watermarks kept in ``feature_materializations``.

On a server these read and write the server's online store (``MLOOP_ONLINE_STORE``), so
remote clients get features and push rows over HTTP.
"""

from __future__ import annotations

from sqlalchemy import select, update

from mloop.core.errors import MloopError, NotFoundError, ValidationError
from mloop.core.naming import check_asset_name
from mloop.core.timeutil import now_ms
from mloop.features import tables as t
from mloop.features.catalog import View
from mloop.features.online.push import push_rows
from mloop.features.online.reads import MAX_ENTITY_ROWS
from mloop.features.online.schemas import (
    GetOnlineFeatures,
    ListMaterializations,
    Materializations,
    MaterializationState,
    OnlineFeaturesResult,
    PushFeatures,
    PushResult,
    RecordMaterialization,
)
from mloop.features.online.served import Served, served_for_context
from mloop.features.ops import operations
from mloop.store.context import Context
from mloop.store.sql import insert_ignore


@operations.post("/online/get", GetOnlineFeatures, OnlineFeaturesResult, role="reader", quick=True)
def get_online_features(ctx: Context, req: GetOnlineFeatures) -> OnlineFeaturesResult:
    """Features of entities from the online store, with statuses (and ages on request)."""
    served = served_for_context(ctx)
    with served.client.using(ctx):
        found = served.reader.read(
            req.features,
            req.entity_rows,
            request_data=req.request_data,
            include_freshness=req.include_freshness,
        )
    # Built without validation: the reader made every field, and this is the hot path.
    return OnlineFeaturesResult.model_construct(**found.__dict__)


def _view(served: Served, name: str) -> View:
    """The view as registered now: a push checks its rows against the newest definition
    (one cheap query says whether any changed)."""
    try:
        return served.reader.reader(force=True).catalog.view(name)
    except MloopError as exc:
        raise NotFoundError(exc.message, field="view") from None


@operations.post("/online/push", PushFeatures, PushResult, quick=True)
def push_features(ctx: Context, req: PushFeatures) -> PushResult:
    """Write fresh rows of a feature view to the online store (the newest per key wins)."""
    check_asset_name(req.view, "view", what="feature view")
    if not 1 <= len(req.rows) <= MAX_ENTITY_ROWS:
        raise ValidationError(
            f"{len(req.rows)} rows: push 1 to {MAX_ENTITY_ROWS:,} rows per request",
            field="rows",
        )
    served = served_for_context(ctx)
    with served.client.using(ctx):
        view = _view(served, req.view)
    given, written = push_rows(served.store, view, req.rows)
    return PushResult(view=req.view, rows=given, written=written)


def _state(row: object) -> MaterializationState:
    return MaterializationState(
        view=row.view,  # type: ignore[attr-defined]
        view_version=row.view_version,  # type: ignore[attr-defined]
        watermark=row.watermark,  # type: ignore[attr-defined]
        rows=row.rows,  # type: ignore[attr-defined]
        materialized_at=row.materialized_at,  # type: ignore[attr-defined]
    )


@operations.get("/online/materializations", ListMaterializations, Materializations, quick=True)
def list_materializations(ctx: Context, req: ListMaterializations) -> Materializations:
    """How far each feature view was materialized: its watermark and last run."""
    m = t.feature_materializations
    query = select(m).order_by(m.c.view)
    if req.view is not None:
        query = query.where(m.c.view == check_asset_name(req.view, "view", what="feature view"))
    return Materializations(materializations=[_state(r) for r in ctx.conn.execute(query)])


@operations.post(
    "/online/materializations/record", RecordMaterialization, MaterializationState, quick=True
)
def record_materialization(ctx: Context, req: RecordMaterialization) -> MaterializationState:
    """Record a materialization: the watermark moves forward only, unless reset."""
    check_asset_name(req.view, "view", what="feature view")
    m = t.feature_materializations
    now = now_ms()
    values = {
        "view": req.view,
        "view_version": req.view_version,
        "watermark": req.watermark,
        "rows": req.rows,
        "materialized_at": now,
    }
    if not insert_ignore(ctx.conn, m, values):
        held = ctx.conn.execute(select(m).where(m.c.view == req.view)).one()
        keep = (
            not req.reset
            and held.view_version == req.view_version
            and held.watermark is not None
            and (req.watermark is None or held.watermark > req.watermark)
        )
        if keep:
            values["watermark"] = held.watermark
        ctx.conn.execute(update(m).where(m.c.view == req.view).values(values))
    found = ctx.conn.execute(select(m).where(m.c.view == req.view)).one()
    return _state(found)
