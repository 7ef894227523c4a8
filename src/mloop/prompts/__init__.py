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

from mloop.prompts import diff, labels, render, reviews, versions
from mloop.prompts.checks import PromptRef, parse_prompt_ref
from mloop.prompts.ops import operations
from mloop.prompts.render import RenderedPrompt, render_version, resolve_and_render, resolve_prompt

__all__ = [
    "PromptRef",
    "RenderedPrompt",
    "diff",
    "labels",
    "operations",
    "parse_prompt_ref",
    "render",
    "render_version",
    "resolve_and_render",
    "resolve_prompt",
    "reviews",
    "versions",
]
