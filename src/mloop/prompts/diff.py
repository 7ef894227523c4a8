"""Differences between two versions of a prompt: a unified diff of the templates and the
variables, parameters, output schema and description that changed; and, for pages, the
changed lines of two templates with the changed words marked (:func:`word_diff`)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
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


# Words, runs of white space and single other characters: "Q: {{ question }}" is
# "Q", ":", " ", "{", "{", " ", "question", ...
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
MAX_LINE_TOKENS = 2000  # longer changed lines are marked whole (word matching is quadratic)
MIN_WORD_SIMILARITY = 0.3  # less alike, a pair of lines is shown as removed and added whole

Segment = tuple[str, str]  # ("same" | "add" | "del", text)


@dataclass(frozen=True)
class DiffLine:
    """One line of a template diff: ``ctx`` (unchanged), ``del`` (only in the old
    version), ``add`` (only in the new one) or ``gap`` (unchanged lines left out), as
    segments whose kind says whether that text changed."""

    kind: str
    segments: tuple[Segment, ...] = ()
    old: int | None = None  # line number in the old template (from 1)
    new: int | None = None  # line number in the new template


def _merged(segments: list[Segment]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for kind, text in segments:
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        elif text:
            out.append((kind, text))
    return tuple(out)


def _word_pair(old: str, new: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]] | None:
    """The segments of a changed line before and after, or None when the two lines have
    too little in common (or too many words) to be marked word by word."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) > MAX_LINE_TOKENS or len(b) > MAX_LINE_TOKENS:
        return None
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < MIN_WORD_SIMILARITY:
        return None
    before: list[Segment] = []
    after: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            before.append(("same", "".join(a[i1:i2])))
            after.append(("same", "".join(b[j1:j2])))
            continue
        before.append(("del", "".join(a[i1:i2])))
        after.append(("add", "".join(b[j1:j2])))
    return _merged(before), _merged(after)


def word_diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """The changed lines of ``new`` against ``old`` with ``context`` unchanged lines around
    them; a changed line paired with its counterpart has its changed words marked. Empty
    when the texts are equal."""
    a, b = old.splitlines(), new.splitlines()
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for n, group in enumerate(matcher.get_grouped_opcodes(context)):
        if n:
            out.append(DiffLine("gap"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [
                    DiffLine("ctx", (("same", a[i]),), i + 1, j1 + i - i1 + 1)
                    for i in range(i1, i2)
                ]
                continue
            removed = [DiffLine("del", (("del", a[i]),), old=i + 1) for i in range(i1, i2)]
            added = [DiffLine("add", (("add", b[j]),), new=j + 1) for j in range(j1, j2)]
            for k in range(min(len(removed), len(added))):  # a replace: pair lines in order
                pair = _word_pair(a[i1 + k], b[j1 + k])
                if pair is not None:
                    removed[k] = DiffLine("del", pair[0], old=i1 + k + 1)
                    added[k] = DiffLine("add", pair[1], new=j1 + k + 1)
            out += removed + added
    return out


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
