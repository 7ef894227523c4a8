"""The ``classifier`` check: ask a safety model served by a gateway route.

Any route works, for example Llama Guard served by vLLM or Ollama. The pipeline gets a
``classify(route, messages) -> str`` coroutine from the gateway; the check sends the
conversation (at the output stage with the answer as the last assistant message) and reads
the model's text.

Verdict format (Llama Guard's own): the first non-empty line is ``safe`` or ``unsafe``; after
``unsafe`` an optional next line lists category codes separated by commas (``S1,S10``). A JSON
object ``{"verdict": "safe"|"unsafe", "categories": [...]}`` is accepted too. Anything else is
unparseable and handled by ``on_unparseable``: ``block`` (default: the check fires) or
``allow``.

Options: ``route`` (required), ``categories`` (fire only for these codes; default any
``unsafe``), ``on_unparseable``, ``roles`` (which messages to send; default user and
assistant, the roles Llama Guard's template accepts). A classify call that fails is an error
decision and the entry's action applies (fail closed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mloop.llm.guardrails.base import (
    Check,
    CheckContext,
    CheckFailed,
    CheckResult,
    OptionError,
    Options,
    Stage,
)
from mloop.llm.guardrails.config import Action

Classify = Callable[[str, list[dict[str, Any]]], Awaitable[str]]
"""``await classify(route, messages)``: the text a gateway route answers to ``messages``."""

_CATEGORY = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_MAX_CATEGORIES = 32
_MAX_VERDICT_CHARS = 10_000


@dataclass(frozen=True)
class Verdict:
    """A parsed classifier answer."""

    unsafe: bool
    categories: tuple[str, ...] = ()


def _categories(items: Sequence[Any]) -> tuple[str, ...] | None:
    codes: list[str] = []
    for item in items[: _MAX_CATEGORIES + 1]:
        code = str(item).strip()
        if not code:
            continue
        if not _CATEGORY.fullmatch(code):
            return None
        codes.append(code.upper())
    if len(codes) > _MAX_CATEGORIES:
        return None
    return tuple(codes)


def parse_verdict(text: str) -> Verdict | None:
    """The verdict in a classifier's answer, or None when it is not in a documented format."""
    if not isinstance(text, str) or len(text) > _MAX_VERDICT_CHARS:
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        verdict = str(data.get("verdict", "")).strip().lower()
        raw = data.get("categories") or []
        if verdict not in ("safe", "unsafe") or not isinstance(raw, list):
            return None
        codes = _categories(raw)
        return None if codes is None else Verdict(verdict == "unsafe", codes)
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if not lines or lines[0].lower() not in ("safe", "unsafe"):
        return None
    if lines[0].lower() == "safe":
        return Verdict(False) if len(lines) == 1 else None
    if len(lines) > 2:
        return None
    codes = _categories(lines[1].split(",")) if len(lines) == 2 else ()
    return None if codes is None else Verdict(True, codes)


class ClassifierCheck(Check):
    """Fires when the classifier route says ``unsafe`` (in one of ``categories`` if given)."""

    name: ClassVar[str] = "classifier"
    is_async = True
    default_roles: ClassVar[tuple[str, ...] | None] = ("user", "assistant")

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        stage: Stage,
        action: Action,
        classify: Classify | None = None,
    ) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        self.route = opts.string("route", required=True)
        codes = opts.string_list("categories", max_items=_MAX_CATEGORIES, max_chars=32)
        self.categories = frozenset(c.upper() for c in codes) or None
        self.on_unparseable = opts.choice("on_unparseable", "block", ("block", "allow"))
        opts.finish()
        if classify is None:
            raise OptionError(
                "route",
                "the classifier check needs the gateway's classify callable: build the pipeline "
                "with GuardrailPipeline.from_config(..., classify=...)",
            )
        self._classify = classify

    def _conversation(self, texts: Sequence[str], ctx: CheckContext) -> list[dict[str, Any]]:
        messages = [
            {"role": m.role, "content": m.text()}
            for m in ctx.request.messages or []
            if m.role in self.roles and m.text()
        ]
        if ctx.stage == "output":
            messages.append({"role": "assistant", "content": texts[0] if texts else ""})
        return messages

    async def aevaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        messages = self._conversation(texts, ctx)
        if not messages:
            return CheckResult(False, details={"skipped": "nothing to classify"})
        try:
            answer = await self._classify(self.route, messages)
        except Exception as exc:  # any failure of the route: fail closed
            raise CheckFailed(
                f"classifier route {self.route!r} failed: {type(exc).__name__}"
            ) from exc
        verdict = parse_verdict(answer)
        if verdict is None:
            details = {"route": self.route, "unparseable": True}
            if self.on_unparseable == "allow":
                return CheckResult(False, details=details)
            return CheckResult(True, "the classifier's answer was not a verdict", details)
        details = {"route": self.route, "verdict": "unsafe" if verdict.unsafe else "safe"}
        if verdict.categories:
            details["categories"] = list(verdict.categories)
        if not verdict.unsafe:
            return CheckResult(False, details=details)
        if self.categories is not None and not self.categories & set(verdict.categories):
            details["ignored"] = True
            return CheckResult(False, details=details)
        codes = ", ".join(verdict.categories)
        return CheckResult(
            True,
            f"classifier says unsafe{': ' + codes if codes else ''}",
            details,
            reask_message=(
                "Your previous answer was flagged as unsafe"
                + (f" (categories {codes})" if codes else "")
                + ". Answer again, safely."
            ),
        )

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        raise CheckFailed("the classifier check is asynchronous")
