"""Statistics of a feature view's rows: counts, nulls, quantiles, histograms, top values.

:func:`profile_view` reads the view's offline rows (after its transformation, streamed:
:func:`~mloop.features.offline.rows.read_view_rows`) into a ``mloop.data`` dataset profile
in the caller's process, where the sources and the transformation's code are, and stores
it with the ``store_feature_profile`` operation; the view's page draws it, the way a
dataset version's page draws its profile. A view keeps its newest profile only.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field
from sqlalchemy import delete, insert, select

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.fields import MAX_SAFE_INTEGER, AssetName
from mloop.core.operations import Empty, Message
from mloop.core.timeutil import now_ms
from mloop.features import tables as t
from mloop.features.ops import operations
from mloop.features.registry import get_definition
from mloop.features.schemas import DefinitionRef, Version
from mloop.store.context import Context

MAX_PROFILE_BYTES = 16 * 1024 * 1024


class StoreFeatureProfile(Message):
    view: AssetName
    version: Version = Field(description="The view version the rows were read with")
    rows: int = Field(ge=0, le=MAX_SAFE_INTEGER)
    profile: dict[str, Any] = Field(description="A mloop.data DatasetProfile.to_dict()")


class FeatureProfileRef(Message):
    view: AssetName


class FeatureProfile(Message):
    view: str
    version: int
    rows: int
    computed_at: int
    profile: dict[str, Any]


@operations.post("/profiles/store", StoreFeatureProfile, Empty)
def store_feature_profile(ctx: Context, req: StoreFeatureProfile) -> Empty:
    """Store the statistics of a view's rows (replacing the view's previous ones)."""
    get_definition(ctx, DefinitionRef(kind="feature_view", name=req.view, version=req.version))
    text = orjson.dumps(req.profile).decode()
    if len(text) > MAX_PROFILE_BYTES:
        raise ValidationError(
            f"the profile is {len(text)} bytes; at most {MAX_PROFILE_BYTES} are stored "
            "(profile fewer columns)",
            field="profile",
        )
    if not isinstance(req.profile.get("columns"), list):
        raise ValidationError(
            "profile must be a dataset profile (DatasetProfile.to_dict()), with its columns",
            field="profile",
        )
    p = t.feature_profiles
    ctx.conn.execute(delete(p).where(p.c.view == req.view))
    ctx.conn.execute(
        insert(p).values(
            view=req.view,
            view_version=req.version,
            profile_json=text,
            rows=req.rows,
            computed_at=now_ms(),
        )
    )
    return Empty()


@operations.get("/profiles/get", FeatureProfileRef, FeatureProfile, quick=True)
def get_feature_profile(ctx: Context, req: FeatureProfileRef) -> FeatureProfile:
    """The newest statistics stored for a view."""
    p = t.feature_profiles
    row = ctx.conn.execute(select(p).where(p.c.view == req.view)).first()
    if row is None:
        raise NotFoundError(
            f"feature view {req.view!r} has no statistics yet (mloop features profile {req.view})",
            field="view",
        )
    return FeatureProfile(
        view=row.view,
        version=row.view_version,
        rows=row.rows,
        computed_at=row.computed_at,
        profile=orjson.loads(row.profile_json),
    )


def profile_view(name: str, *, client: Any = None, catalog: Any = None) -> FeatureProfile:
    """Profile feature view ``name``'s rows here and store the profile (see the module
    docstring)."""
    import mloop
    from mloop.data.profile import profile_dataset
    from mloop.features.catalog import Catalog
    from mloop.features.offline.rows import read_view_rows

    client = client or mloop.Client()
    catalog = catalog or Catalog.from_registry(client)
    view = catalog.view(name)
    if view.version is None:
        raise ValidationError(
            f"feature view {name!r} is not registered: apply it first", field="view"
        )
    rows = read_view_rows(view, client=client)
    profile = profile_dataset(rows, columns=list(view.feature_types))
    client.call(
        "store_feature_profile",
        view=name,
        version=view.version,
        rows=profile.row_count,
        profile=profile.to_dict(),
    )
    found: FeatureProfile = client.call("get_feature_profile", view=name)
    return found
