"""Badges that tables show beside a row: what fired, shown as ``check: action``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.server.ui.formatting import cut

if TYPE_CHECKING:
    from mloop.llm.calls.queries import CallSummary


def guardrail_badges(call: CallSummary) -> list[dict[str, str]]:
    """``pii: redact``-style badges of the decisions that fired, with a CSS class by action."""
    out = []
    for g in call.triggered_guardrails:
        check = str(g.get("check") or g.get("name") or "check")
        action = "error" if g.get("error") else str(g.get("action") or "")
        cls = {"block": "fail", "error": "fail", "redact": "warn", "warn": "warn"}.get(
            action, "muted-badge"
        )
        title = f"{g.get('stage', '')} · {g.get('name', '')}: {g.get('reason') or ''}"
        out.append({"label": f"{check}: {action}", "cls": cls, "title": cut(title, 300)})
    return out
