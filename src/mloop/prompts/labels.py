"""Labels of prompt versions (``production``, ``staging``, any name; ``latest`` is implicit)
that move like model aliases, with an append-only audit trail of every set, move and
delete. Labels listed in the prompt's policy need an approved version."""

from __future__ import annotations

from mloop.core.errors import NotFoundError
from mloop.core.operations import Empty
from mloop.prompts.checks import check_label, check_prompt_name
from mloop.prompts.common import (
    LABELS,
    labels_of,
    load_prompt_row,
    load_version_row,
    touch_prompt,
    version_message,
)
from mloop.prompts.ops import operations
from mloop.prompts.reviews import enforce_approval
from mloop.prompts.schemas import (
    GetPromptLabelHistory,
    PromptLabelHistory,
    PromptLabelHistoryEntry,
    PromptLabelRef,
    PromptVersion,
    SetPromptLabel,
)
from mloop.store.context import Context


def resolve_label(ctx: Context, name: str, label: str) -> int:
    """The version a label points to."""
    load_prompt_row(ctx, name)
    version = labels_of(ctx, name).get(check_label(label))
    if version is None:
        raise NotFoundError(f"prompt {name!r} has no label {label!r}", field="label")
    return version


def move_label(ctx: Context, name: str, label: str, version: int) -> None:
    """Point ``label`` at ``version`` after the policy allows it; log the move.

    The caller holds the prompt's row lock.
    """
    current = labels_of(ctx, name).get(label)
    if current == version:
        return  # nothing moves, so a policy set later does not undo an earlier decision
    enforce_approval(ctx, load_prompt_row(ctx, name), label, version)
    LABELS.set(ctx, name, label, version)


@operations.post("/labels/set", SetPromptLabel, PromptVersion, quick=True)
def set_prompt_label(ctx: Context, req: SetPromptLabel) -> PromptVersion:
    """Point a label at a version (creating or moving it); the move is logged."""
    name = load_prompt_row(ctx, req.name, lock=True).name
    label = check_label(req.label)
    load_version_row(ctx, name, req.version)
    move_label(ctx, name, label, req.version)
    touch_prompt(ctx, name)
    return version_message(ctx, name, req.version)


@operations.post("/labels/delete", PromptLabelRef, Empty, quick=True)
def delete_prompt_label(ctx: Context, req: PromptLabelRef) -> Empty:
    """Remove a label; the deletion is logged."""
    name = load_prompt_row(ctx, req.name, lock=True).name
    label = check_label(req.label)
    if LABELS.remove(ctx, name, label) is None:
        raise NotFoundError(f"prompt {name!r} has no label {label!r}", field="label")
    touch_prompt(ctx, name)
    return Empty()


@operations.get("/labels/get", PromptLabelRef, PromptVersion, quick=True)
def get_prompt_version_by_label(ctx: Context, req: PromptLabelRef) -> PromptVersion:
    """The version a label points to."""
    name = check_prompt_name(req.name)
    return version_message(ctx, name, resolve_label(ctx, name, req.label))


@operations.get("/labels/history", GetPromptLabelHistory, PromptLabelHistory, quick=True)
def get_prompt_label_history(ctx: Context, req: GetPromptLabelHistory) -> PromptLabelHistory:
    """Every label change of a prompt (or of one label), oldest first."""
    name = check_prompt_name(req.name)
    label = check_label(req.label) if req.label is not None else None
    return PromptLabelHistory(
        entries=LABELS.history_entries(
            ctx, name, label, req.max_results, PromptLabelHistoryEntry, load=load_prompt_row
        )
    )
