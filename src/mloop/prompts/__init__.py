"""The prompt registry: prompts as versioned assets.

A version is a chat or text template (Jinja2, rendered in a sandbox) with typed variables,
model parameters and an optional output JSON schema, identified by the sha256 of its
content. Labels (``production``, ``staging``) move like model aliases with an audit trail;
a policy can require an approved review before a version gets a label. Prompt files in a
product's repository are pushed with ``mloop prompts push``. See ``docs/prompts.md``.

The gateway calls :func:`resolve_and_render` with a reference such as
``support-reply@production``; a service that caches fetched versions calls
:func:`resolve_prompt` on a miss and :func:`render_version` per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "diff": "mloop.prompts.diff",
    "labels": "mloop.prompts.labels",
    "render": "mloop.prompts.render",
    "reviews": "mloop.prompts.reviews",
    "versions": "mloop.prompts.versions",
    "operations": "mloop.prompts.ops",
    "PromptRef": "mloop.prompts.checks",
    "parse_prompt_ref": "mloop.prompts.checks",
    "RenderedPrompt": "mloop.prompts.render",
    "render_version": "mloop.prompts.render",
    "resolve_and_render": "mloop.prompts.render",
    "resolve_prompt": "mloop.prompts.render",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.prompts import diff, labels, render, reviews, versions
    from mloop.prompts.checks import PromptRef, parse_prompt_ref
    from mloop.prompts.ops import operations
    from mloop.prompts.render import (
        RenderedPrompt,
        render_version,
        resolve_and_render,
        resolve_prompt,
    )
