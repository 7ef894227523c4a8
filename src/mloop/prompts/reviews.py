"""Reviews of prompt versions and the approval policy.

A prompt's policy lists labels (``production``) that only an approved version may get: a
version whose latest review decision is ``approved``. Who may review is decided by the one
rule in :mod:`mloop.prompts.approval` (an identified reviewer; for an approval, not the
author unless the policy allows self-approval).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from mloop.core.errors import ConflictError
from mloop.core.timeutil import now_ms
from mloop.prompts import tables as t
from mloop.prompts.approval import check_review
from mloop.prompts.checks import check_label, check_prompt_name
from mloop.prompts.common import (
    approval_labels,
    approval_policy,
    ensure_prompt_row,
    load_prompt_row,
    load_version_row,
    prompt_message,
    review_statuses,
    touch_prompt,
)
from mloop.prompts.ops import operations
from mloop.prompts.schemas import (
    ListPromptReviews,
    Prompt,
    PromptReview,
    PromptReviewList,
    ReviewPromptVersion,
    SetPromptPolicy,
)
from mloop.store.context import Context


def _review_message(row: Any) -> PromptReview:
    return PromptReview(
        id=row.id,
        name=row.name,
        version=row.version,
        reviewer=row.reviewer,
        decision=row.decision,
        comment=row.comment or "",
        created_time=row.created_time,
    )


@operations.post("/reviews/create", ReviewPromptVersion, PromptReview, quick=True)
def review_prompt_version(ctx: Context, req: ReviewPromptVersion) -> PromptReview:
    """Approve or reject a version as the caller: an identified reviewer, and for an
    approval not the version's author unless the policy allows self-approval."""
    prompt = load_prompt_row(ctx, req.name, lock=True)
    name = prompt.name
    version = load_version_row(ctx, name, req.version)
    reviewer = ctx.actor.strip()[:256]
    check_review(
        reviewer=reviewer,
        author=version.created_by or "",
        decision=req.decision,
        policy=approval_policy(prompt),
        name=name,
        version=req.version,
    )
    now = now_ms()
    result = ctx.conn.execute(
        insert(t.prompt_reviews).values(
            name=name,
            version=req.version,
            reviewer=reviewer,
            decision=req.decision,
            comment=req.comment,
            created_time=now,
        )
    )
    touch_prompt(ctx, name)
    review_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    row = ctx.conn.execute(select(t.prompt_reviews).where(t.prompt_reviews.c.id == review_id)).one()
    return _review_message(row)


@operations.get("/reviews/list", ListPromptReviews, PromptReviewList, quick=True)
def list_prompt_reviews(ctx: Context, req: ListPromptReviews) -> PromptReviewList:
    """The reviews of a prompt (or of one version), newest first."""
    name = load_prompt_row(ctx, req.name).name
    r = t.prompt_reviews
    query = select(r).where(r.c.name == name)
    if req.version is not None:
        load_version_row(ctx, name, req.version)
        query = query.where(r.c.version == req.version)
    rows = ctx.conn.execute(query.order_by(r.c.id.desc()).limit(1000))
    return PromptReviewList(reviews=[_review_message(row) for row in rows])


@operations.post("/policy/set", SetPromptPolicy, Prompt, role="admin", quick=True)
def set_prompt_policy(ctx: Context, req: SetPromptPolicy) -> Prompt:
    """Set the labels only approved versions may get and, when given, whether an approval
    needs a reviewer other than the author (creating the prompt if needed)."""
    name = check_prompt_name(req.name)
    labels = sorted(
        {
            check_label(x, f"require_approval_for[{i}]")
            for i, x in enumerate(req.require_approval_for)
        }
    )
    ensure_prompt_row(ctx, name)
    values: dict[str, Any] = {"approval_labels_json": json.dumps(labels)}
    if req.require_distinct_reviewer is not None:
        values["require_distinct_reviewer"] = req.require_distinct_reviewer
    touch_prompt(ctx, name, **values)
    return prompt_message(ctx, load_prompt_row(ctx, name))


def enforce_approval(ctx: Context, prompt_row: Any, label: str, version: int) -> None:
    """Refuse to give ``label`` to a version that the policy says needs approval first."""
    if label not in approval_labels(prompt_row):
        return
    status = review_statuses(ctx, prompt_row.name, [version]).get(version, "pending")
    if status == "approved":
        return
    name = prompt_row.name
    raise ConflictError(
        f"prompt {name!r} requires an approved review before a version gets label {label!r}, "
        f"and version {version} is {'rejected' if status == 'rejected' else 'not approved'}. "
        f"A reviewer other than its author approves it with `mloop prompts approve {name} "
        f"{version}`, the Approve button on the version's page, or "
        "Client().review_prompt_version(); then set the label again",
        field="label",
    )
