"""Lookups and conversions shared by the prompts domain's handlers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from mloop.prompts import tables as t
from mloop.prompts.approval import UNIDENTIFIED, ApprovalPolicy
from mloop.prompts.checks import check_prompt_name
from mloop.prompts.content import load_content
from mloop.prompts.schemas import Prompt, PromptVersion
from mloop.store.assets import AssetRows
from mloop.store.context import Context
from mloop.store.pointers import Pointers

PROMPTS = AssetRows(t.prompts, t.prompt_versions, noun="prompt", check_name=check_prompt_name)
"""Prompts and their versions (immutable, never deleted)."""

load_prompt_row = PROMPTS.load
load_version_row = PROMPTS.load_version
latest_version = PROMPTS.latest_version
touch_prompt = PROMPTS.touch


def ensure_prompt_row(ctx: Context, name: str) -> Any:
    """The prompt's row, locked; created when it does not exist."""
    return PROMPTS.ensure(
        ctx, name, description="", approval_labels_json="[]", require_distinct_reviewer=True
    )


LABELS = Pointers(t.prompt_labels, t.prompt_label_history, "label")
"""Prompt labels and their history."""


def labels_of(ctx: Context, name: str) -> dict[str, int]:
    return LABELS.current(ctx, name)


def review_statuses(ctx: Context, name: str, numbers: list[int]) -> dict[int, str]:
    """The latest review decision of each version (versions without one are left out).
    Reviews recorded under no identity (``anonymous``, before the approval rule refused
    them) do not count."""
    r = t.prompt_reviews
    newest = (
        select(r.c.version, func.max(r.c.id).label("id"))
        .where(
            r.c.name == name,
            r.c.version.in_(numbers),
            func.lower(func.trim(r.c.reviewer)).not_in(sorted(UNIDENTIFIED)),
        )
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
    labels = LABELS.by_version(ctx, name, numbers)
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


def approval_policy(row: Any) -> ApprovalPolicy:
    """The review part of a prompt's policy, from its row."""
    return ApprovalPolicy(require_distinct_reviewer=bool(row.require_distinct_reviewer))


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
        require_distinct_reviewer=approval_policy(row).require_distinct_reviewer,
    )
