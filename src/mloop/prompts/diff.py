"""Differences between two versions of a prompt: a unified diff of the templates and the
variables, parameters, output schema and description that changed."""

from __future__ import annotations

import difflib
import json
from typing import Any

from mloop.prompts.checks import check_prompt_name
from mloop.prompts.common import version_message
from mloop.prompts.ops import operations
from mloop.prompts.schemas import DiffPromptVersions, FieldChange, PromptContent, PromptDiff
from mloop.store.context import Context


def template_text(content: PromptContent) -> str:
    """The template as text lines: chat messages as ``[role]`` blocks, or the text."""
    if content.messages is None:
        return content.text or ""
    return "\n".join(f"[{m.role}]\n{m.content}" for m in content.messages)


def _dump(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def _mapping_changes(prefix: str, a: dict[str, Any], b: dict[str, Any]) -> list[FieldChange]:
    changes = []
    for key in sorted(set(a) | set(b)):
        before, after = _dump(a.get(key)), _dump(b.get(key))
        if json.dumps(before, sort_keys=True) != json.dumps(after, sort_keys=True):
            changes.append(FieldChange(field=f"{prefix}.{key}", before=before, after=after))
    return changes


def diff_contents(a: PromptContent, b: PromptContent, label_a: str, label_b: str) -> PromptDiff:
    """The differences from ``a`` to ``b`` (name and version numbers are set by the caller)."""
    lines = difflib.unified_diff(
        template_text(a).splitlines(),
        template_text(b).splitlines(),
        fromfile=label_a,
        tofile=label_b,
        lineterm="",
    )
    changes: list[FieldChange] = []
    kind_a = "chat" if a.messages is not None else "text"
    kind_b = "chat" if b.messages is not None else "text"
    if kind_a != kind_b:
        changes.append(FieldChange(field="template.type", before=kind_a, after=kind_b))
    changes += _mapping_changes("variables", dict(a.variables), dict(b.variables))
    changes += _mapping_changes("params", a.params, b.params)
    if json.dumps(a.output_schema, sort_keys=True) != json.dumps(b.output_schema, sort_keys=True):
        changes.append(
            FieldChange(field="output_schema", before=a.output_schema, after=b.output_schema)
        )
    if a.description != b.description:
        changes.append(FieldChange(field="description", before=a.description, after=b.description))
    return PromptDiff(name="", a=0, b=0, template_diff="\n".join(lines), changes=changes)


@operations.get("/versions/diff", DiffPromptVersions, PromptDiff)
def diff_prompt_versions(ctx: Context, req: DiffPromptVersions) -> PromptDiff:
    """What changed from version ``a`` to version ``b``."""
    name = check_prompt_name(req.name)
    va, vb = version_message(ctx, name, req.a), version_message(ctx, name, req.b)
    diff = diff_contents(va, vb, f"{name}:{req.a}", f"{name}:{req.b}")
    return diff.model_copy(update={"name": name, "a": req.a, "b": req.b})
