"""Where model versions came from, asked the other way round: the versions registered from a
run, and the versions trained on a dataset version (as their recorded training data says).

Both answer across models, newest first, and list live (not deleted) versions only.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from mloop.registry import tables as t
from mloop.registry.common import READY, version_messages
from mloop.registry.schemas import ModelVersion
from mloop.store.context import Context

_NEWEST_FIRST = (
    t.model_versions.c.creation_time.desc(),
    t.model_versions.c.name,
    t.model_versions.c.version.desc(),
)


def _messages(ctx: Context, rows: list[Any]) -> list[ModelVersion]:
    """Messages for version rows of any models, in the rows' order."""
    by_model: dict[str, list[Any]] = {}
    for row in rows:
        by_model.setdefault(row.name, []).append(row)
    found = {
        (m.name, m.version): m
        for model_rows in by_model.values()
        for m in version_messages(ctx, model_rows)
    }
    return [found[(r.name, r.version)] for r in rows]


def versions_from_run(ctx: Context, run_id: str, max_results: int = 200) -> list[ModelVersion]:
    """The versions registered from ``run_id`` (their source run), of any model."""
    rows = ctx.conn.execute(
        select(t.model_versions)
        .where(t.model_versions.c.run_id == run_id, t.model_versions.c.status == READY)
        .order_by(*_NEWEST_FIRST)
        .limit(max_results)
    ).all()
    return _messages(ctx, list(rows))


def _trained_on(text: str | None, name: str, version: int) -> bool:
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return False
    return isinstance(entries, list) and any(
        isinstance(e, dict) and e.get("name") == name and e.get("version") == version
        for e in entries
    )


def versions_trained_on(
    ctx: Context, name: str, version: int, max_results: int = 200
) -> list[ModelVersion]:
    """The versions whose training data (recorded at registration from the runs' inputs)
    includes version ``version`` of dataset ``name``.

    The stored JSON is searched for the quoted name first (a substring test the database
    can do), then each candidate's list is read to match the version exactly; a deleted or
    renamed source run does not hide the version.
    """
    rows = ctx.conn.execute(
        select(t.model_versions)
        .where(
            t.model_versions.c.status == READY,
            t.model_versions.c.training_data_json.contains(json.dumps(name), autoescape=True),
        )
        .order_by(*_NEWEST_FIRST)
    )
    matching = []
    for row in rows:
        if _trained_on(row.training_data_json, name, version):
            matching.append(row)
            if len(matching) == max_results:
                break
    return _messages(ctx, matching)
