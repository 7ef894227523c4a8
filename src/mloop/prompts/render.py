"""Resolving a prompt reference and rendering it: what the gateway calls for a request that
names a prompt (``prompt: support-reply@production``) instead of messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mloop.core.errors import ValidationError
from mloop.prompts.checks import PromptRef, parse_prompt_ref
from mloop.prompts.common import latest_version, load_prompt_row, version_message
from mloop.prompts.labels import resolve_label
from mloop.prompts.ops import operations
from mloop.prompts.schemas import PromptVersion, RenderedPromptMessage, RenderPrompt
from mloop.prompts.template import render_content
from mloop.store.context import Context


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered version: chat messages (OpenAI format), model parameters, output schema."""

    name: str
    version: int
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None


def resolve_prompt(ctx: Context, ref: str | PromptRef) -> PromptVersion:
    """The version a reference names: ``name`` (newest), ``name:3`` or ``name@label``."""
    parsed = parse_prompt_ref(ref) if isinstance(ref, str) else ref
    if parsed.label is not None:
        return version_message(ctx, parsed.name, resolve_label(ctx, parsed.name, parsed.label))
    number = parsed.version
    if number is None:
        load_prompt_row(ctx, parsed.name)
        number = latest_version(ctx, parsed.name)
        if number is None:
            raise ValidationError(f"prompt {parsed.name!r} has no versions", field="ref")
    return version_message(ctx, parsed.name, number)


def render_version(version: PromptVersion, variables: dict[str, Any]) -> RenderedPrompt:
    """Render a fetched version (the SDK does this locally)."""
    return RenderedPrompt(
        name=version.name,
        version=version.version,
        messages=render_content(version, variables),
        params=dict(version.params),
        output_schema=version.output_schema,
    )


def resolve_and_render(ctx: Context, ref: str, variables: dict[str, Any]) -> RenderedPrompt:
    """Resolve ``ref`` and render it with ``variables`` (checked against their types).

    Raises NotFoundError for an unknown prompt, version or label and ValidationError for
    a malformed reference or bad variables (the field names the variable).
    """
    return render_version(resolve_prompt(ctx, ref), variables)


@operations.post("/render", RenderPrompt, RenderedPromptMessage, role="reader")
def render_prompt(ctx: Context, req: RenderPrompt) -> RenderedPromptMessage:
    """Render a prompt reference with variables on the server."""
    rendered = resolve_and_render(ctx, req.ref, req.variables)
    return RenderedPromptMessage(
        name=rendered.name,
        version=rendered.version,
        messages=rendered.messages,
        params=rendered.params,
        output_schema=rendered.output_schema,
    )
