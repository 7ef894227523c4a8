"""Lookups and conversions shared by the prompts domain's handlers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mloop.core.errors import ConflictError, NotFoundError
from mloop.core.timeutil import now_ms
from mloop.prompts import tables as t
from mloop.prompts.checks import check_prompt_name
from mloop.prompts.content import load_content
from mloop.prompts.schemas import Prompt, PromptVersion
from mloop.store.context import Context
from mloop.store.pointers import Pointers


def load_prompt_row(ctx: Context, name: str, *, lock: bool = False) -> Any:
    """The prompt's row. ``lock=True`` serialises writers of this prompt (version numbers
    and label moves are decided one writer at a time)."""
    check_prompt_name(name)
    query = select(t.prompts).where(t.prompts.c.name == name)
    if lock:
        query = query.with_for_update()
    row = ctx.conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"prompt {name!r} does not exist", field="name")
    return row


def ensure_prompt_row(ctx: Context, name: str) -> Any:
    """The prompt's row, locked; created when it does not exist."""
    check_prompt_name(name)
    query = select(t.prompts).where(t.prompts.c.name == name).with_for_update()
    row = ctx.conn.execute(query).first()
    if row is not None:
        return row
    clash = ctx.conn.execute(
        select(t.prompts.c.name).where(func.lower(t.prompts.c.name) == name.lower())
    ).first()
    if clash is not None:
        raise ConflictError(
            f"prompt {name!r} clashes with {clash.name!r} (names are unique regardless of case)",
            field="name",
        )
    now = now_ms()
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                insert(t.prompts).values(
                    name=name,
                    description="",
                    creation_time=now,
                    last_update_time=now,
                    approval_labels_json="[]",
                )
            )
    except IntegrityError as exc:
        # A concurrent writer created it a moment ago: use its row.
        row = ctx.conn.execute(query).first()
        if row is None:
            raise ConflictError(
                f"prompt {name!r} was created concurrently; retry", field="name"
            ) from exc
        return row
    return ctx.conn.execute(query).first()


def touch_prompt(ctx: Context, name: str, **values: Any) -> None:
    ctx.conn.execute(
        update(t.prompts)
        .where(t.prompts.c.name == name)
        .values(last_update_time=now_ms(), **values)
    )


def load_version_row(ctx: Context, name: str, version: int) -> Any:
    """A version's row; NotFoundError names the prompt or the version."""
    row = ctx.conn.execute(
        select(t.prompt_versions).where(
            t.prompt_versions.c.name == name, t.prompt_versions.c.version == version
        )
    ).first()
    if row is None:
        load_prompt_row(ctx, name)  # an unknown prompt is reported as such
        raise NotFoundError(f"version {version} of prompt {name!r} does not exist", field="version")
    return row


def latest_version(ctx: Context, name: str) -> int | None:
    value = ctx.conn.execute(
        select(func.max(t.prompt_versions.c.version)).where(t.prompt_versions.c.name == name)
    ).scalar()
    return int(value) if value is not None else None


LABELS = Pointers(t.prompt_labels, t.prompt_label_history, "label")
"""Prompt labels and their history."""


def labels_of(ctx: Context, name: str) -> dict[str, int]:
    return LABELS.current(ctx, name)


def review_statuses(ctx: Context, name: str, numbers: list[int]) -> dict[int, str]:
    """The latest review decision of each version (versions without one are left out)."""
    r = t.prompt_reviews
    newest = (
        select(r.c.version, func.max(r.c.id).label("id"))
        .where(r.c.name == name, r.c.version.in_(numbers))
        .group_by(r.c.version)
        .subquery()
    )
    rows = ctx.conn.execute(select(r.c.version, r.c.decision).join(newest, newest.c.id == r.c.id))
    return {row.version: row.decision for row in rows}


def version_messages(ctx: Context, rows: Sequence[Any]) -> list[PromptVersion]:
    """Messages for version rows of one prompt, with their labels and review status."""
    if not rows:
        return []
    name = rows[0].name
    numbers = [r.version for r in rows]
    labels: dict[int, list[str]] = {n: [] for n in numbers}
    for label, version in labels_of(ctx, name).items():
        if version in labels:
            labels[version].append(label)
    statuses = review_statuses(ctx, name, numbers)
    return [
        PromptVersion(
            **load_content(r.content_json).model_dump(),
            name=r.name,
            version=r.version,
            digest=r.digest,
            git_commit=r.git_commit,
            git_dirty=r.git_dirty,
            source_path=r.source_path or "",
            created_by=r.created_by or "",
            creation_time=r.creation_time,
            labels=labels[r.version],
            review_status=statuses.get(r.version, "pending"),
        )
        for r in rows
    ]


def version_message(ctx: Context, name: str, version: int) -> PromptVersion:
    return version_messages(ctx, [load_version_row(ctx, name, version)])[0]


def approval_labels(row: Any) -> list[str]:
    return list(json.loads(row.approval_labels_json or "[]"))


def prompt_message(ctx: Context, row: Any) -> Prompt:
    count = ctx.conn.execute(
        select(func.count()).where(t.prompt_versions.c.name == row.name)
    ).scalar()
    return Prompt(
        name=row.name,
        description=row.description or "",
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        labels=labels_of(ctx, row.name),
        latest_version=latest_version(ctx, row.name),
        version_count=int(count or 0),
        require_approval_for=approval_labels(row),
    )
