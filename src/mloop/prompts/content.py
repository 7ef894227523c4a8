"""A version's content: checked, written as canonical JSON, and identified by its sha256.

Canonical JSON (sorted keys, no spaces, UTF-8) makes the digest depend on what the prompt
says, not on how the file that held it was formatted, so pushing an unchanged prompt
finds the version it already is. Where it came from (git commit, path) is not content.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mloop.core.errors import ValidationError
from mloop.prompts.checks import ROLE_PATTERN, VARIABLE_PATTERN
from mloop.prompts.schemas import MAX_VARIABLES, PromptContent
from mloop.prompts.template import check_default, check_templates

MAX_CONTENT_BYTES = 1024 * 1024
_VARIABLE_RE = re.compile(VARIABLE_PATTERN)
_ROLE_RE = re.compile(ROLE_PATTERN)
_CONTENT_FIELDS = ("messages", "text", "variables", "params", "output_schema", "description")


def _check_output_schema(schema: dict[str, Any]) -> None:
    import jsonschema  # a core dependency, imported here to keep `import mloop` light

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
        raise ValidationError(
            f"output_schema is not a valid JSON Schema: {exc.message}"
            + (f" (at output_schema{where})" if where else ""),
            field=f"output_schema{where}",
        ) from None


def check_content(content: PromptContent) -> PromptContent:
    """The content if it is a complete, consistent version; a ValidationError naming the
    field otherwise. Returns only the content fields (no name, git or label)."""
    clean = PromptContent(**{f: getattr(content, f) for f in _CONTENT_FIELDS})
    if (clean.messages is None) == (clean.text is None):
        raise ValidationError(
            "a prompt has either a chat template (template.messages) or a text template "
            "(template.text), exactly one of them",
            field="template",
        )
    if clean.messages is not None:
        if not clean.messages:
            raise ValidationError("template.messages must not be empty", field="messages")
        for i, message in enumerate(clean.messages):
            if not _ROLE_RE.fullmatch(message.role):
                raise ValidationError(
                    f"messages[{i}].role {message.role[:40]!r} must be a lowercase word such "
                    "as system, user or assistant",
                    field=f"messages[{i}].role",
                )
    if len(clean.variables) > MAX_VARIABLES:
        raise ValidationError(
            f"a prompt may declare at most {MAX_VARIABLES} variables", field="variables"
        )
    for name, spec in clean.variables.items():
        if not _VARIABLE_RE.fullmatch(name):
            raise ValidationError(
                f"variable name {name[:40]!r} must be an identifier (letters, digits and _, "
                "not starting with a digit)",
                field=f"variables.{name[:40]}",
            )
        check_default(name, spec)
    check_templates(clean)
    if clean.output_schema is not None:
        _check_output_schema(clean.output_schema)
    text = canonical_json(clean)
    if len(text.encode()) > MAX_CONTENT_BYTES:
        raise ValidationError(
            f"the prompt is {len(text.encode())} bytes as JSON; the limit is {MAX_CONTENT_BYTES}",
            field="template",
        )
    return clean


def canonical_json(content: PromptContent) -> str:
    """The content as canonical JSON (what is stored and hashed)."""
    data = content.model_dump()
    try:
        return json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError:
        raise ValidationError(
            "params and defaults must be JSON numbers: NaN and infinity are not allowed",
            field="params",
        ) from None


def content_digest(content: PromptContent) -> str:
    """sha256 of the canonical JSON of the content."""
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def load_content(text: str) -> PromptContent:
    return PromptContent.model_validate_json(text)
