"""Which endpoints serve a model version now: the registry's pages link back to them.

Read from the endpoints' live deployments (one join; the variants are JSON), so a version
that an endpoint served before a promotion or rollback is no longer listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from mloop.serving import tables as t
from mloop.serving.schemas import Strategy, Variant, VariantRole
from mloop.store.context import Context


@dataclass(frozen=True)
class ServedBy:
    """One variant of an endpoint's live deployment that serves the version."""

    endpoint: str
    deployment: int
    strategy: Strategy
    variant: str
    role: VariantRole
    weight: int


def endpoints_serving(ctx: Context, model: str, version: int) -> list[ServedBy]:
    """The variants of live deployments serving ``model`` version ``version``, by endpoint
    name (model names compare without regard to case, as the registry's do)."""
    e, d = t.endpoints, t.deployments
    rows = ctx.conn.execute(
        select(e.c.name, d.c.id, d.c.strategy, d.c.variants_json)
        .join(d, d.c.id == e.c.current_deployment)
        .order_by(e.c.name)
    )
    wanted = model.casefold()
    found: list[ServedBy] = []
    for row in rows:
        for raw in json.loads(row.variants_json):
            variant = Variant.model_validate(raw)
            if variant.model.casefold() == wanted and variant.version == version:
                found.append(
                    ServedBy(
                        endpoint=row.name,
                        deployment=row.id,
                        strategy=row.strategy,
                        variant=variant.name,
                        role=variant.role,
                        weight=variant.weight,
                    )
                )
    return found
