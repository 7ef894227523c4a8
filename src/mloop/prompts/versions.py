"""Prompts and their versions: immutable content identified by the sha256 of its canonical
JSON, numbered 1, 2, 3 per prompt. Registering content a prompt already holds returns that
version instead of creating another."""

from __future__ import annotations

import re

from sqlalchemy import func, insert, select

from mloop.core.errors import ValidationError
from mloop.core.naming import decode_page_token, encode_page_token
from mloop.core.timeutil import now_ms
from mloop.core.validation import check_text
from mloop.prompts import tables as t
from mloop.prompts.checks import COMMIT_PATTERN, check_label, check_prompt_name
from mloop.prompts.common import (
    ensure_prompt_row,
    latest_version,
    load_prompt_row,
    prompt_message,
    touch_prompt,
    version_message,
    version_messages,
)
from mloop.prompts.content import canonical_json, check_content, content_digest
from mloop.prompts.labels import move_label
from mloop.prompts.ops import operations
from mloop.prompts.schemas import (
    CreatePromptVersion,
    GetPromptVersion,
    ListPrompts,
    ListPromptVersions,
    Prompt,
    PromptList,
    PromptName,
    PromptVersion,
    PromptVersionList,
    RegisteredPromptVersion,
)
from mloop.store.context import Context

_COMMIT_RE = re.compile(COMMIT_PATTERN)


def _check_commit(value: str | None) -> str | None:
    if value is None:
        return None
    if not _COMMIT_RE.fullmatch(value):
        raise ValidationError(
            f"git_commit must be a hexadecimal commit id, got {value[:80]!r}", field="git_commit"
        )
    return value


@operations.post("/versions/create", CreatePromptVersion, RegisteredPromptVersion)
def create_prompt_version(ctx: Context, req: CreatePromptVersion) -> RegisteredPromptVersion:
    """Register content as the prompt's next version (creating the prompt on first use).

    When the prompt already holds a version with the same content digest, that version is
    returned (``created`` is false). With ``label``, the label is moved to the version.
    """
    name = check_prompt_name(req.name)
    content = check_content(req)
    commit = _check_commit(req.git_commit)
    source = check_text(req.source_path, "source_path", max_length=4096) if req.source_path else ""
    label = check_label(req.label) if req.label is not None else None
    digest = content_digest(content)
    ensure_prompt_row(ctx, name)
    v = t.prompt_versions
    existing = ctx.conn.execute(
        select(v.c.version).where(v.c.name == name, v.c.digest == digest).order_by(v.c.version)
    ).first()
    created = existing is None
    if existing is None:
        version = (latest_version(ctx, name) or 0) + 1
        ctx.conn.execute(
            insert(v).values(
                name=name,
                version=version,
                digest=digest,
                content_json=canonical_json(content),
                git_commit=commit,
                git_dirty=req.git_dirty,
                source_path=source,
                created_by=ctx.actor[:256],
                creation_time=now_ms(),
            )
        )
        touch_prompt(ctx, name, description=content.description)
    else:
        version = existing.version
    if label is not None:
        move_label(ctx, name, label, version)
        touch_prompt(ctx, name)
    return RegisteredPromptVersion(
        prompt_version=version_message(ctx, name, version), created=created
    )


@operations.get("/versions/get", GetPromptVersion, PromptVersion, quick=True)
def get_prompt_version(ctx: Context, req: GetPromptVersion) -> PromptVersion:
    """One version; without ``version``, the newest."""
    name = check_prompt_name(req.name)
    number = req.version
    if number is None:
        load_prompt_row(ctx, name)
        number = latest_version(ctx, name)
        if number is None:
            raise ValidationError(f"prompt {name!r} has no versions", field="version")
    return version_message(ctx, name, number)


@operations.get("/versions/list", ListPromptVersions, PromptVersionList)
def list_prompt_versions(ctx: Context, req: ListPromptVersions) -> PromptVersionList:
    """A prompt's versions, newest first."""
    name = load_prompt_row(ctx, req.name).name
    offset = decode_page_token(req.page_token)
    v = t.prompt_versions
    rows = list(
        ctx.conn.execute(
            select(v)
            .where(v.c.name == name)
            .order_by(v.c.version.desc())
            .limit(req.max_results + 1)
            .offset(offset)
        )
    )
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return PromptVersionList(
        prompt_versions=version_messages(ctx, rows[: req.max_results]), next_page_token=token
    )


@operations.get("/get", PromptName, Prompt, quick=True)
def get_prompt(ctx: Context, req: PromptName) -> Prompt:
    """A prompt with its labels, newest version and approval policy."""
    return prompt_message(ctx, load_prompt_row(ctx, req.name))


@operations.get("/list", ListPrompts, PromptList)
def list_prompts(ctx: Context, req: ListPrompts) -> PromptList:
    """Prompts by name, optionally those whose name contains a text."""
    offset = decode_page_token(req.page_token)
    query = select(t.prompts).order_by(t.prompts.c.name)
    if req.name_contains:
        query = query.where(
            func.lower(t.prompts.c.name).contains(req.name_contains.lower(), autoescape=True)
        )
    rows = list(ctx.conn.execute(query.limit(req.max_results + 1).offset(offset)))
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return PromptList(
        prompts=[prompt_message(ctx, r) for r in rows[: req.max_results]], next_page_token=token
    )
