"""The ``pii`` check: personal data (``mloop.llm.guardrails.pii``) in the request or answer.

Options: ``kinds`` (default all of ``PII_KINDS``) and ``style`` (``label``: ``[EMAIL]``, or
``mask``: ``****4242``) for action ``redact``. The reason counts kinds (``"2 email"``); the
values found are never recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mloop.core.errors import ValidationError
from mloop.llm.guardrails.base import (
    ALL_ACTIONS,
    CheckFailed,
    OptionError,
    Options,
    Stage,
    TextCheck,
)
from mloop.llm.guardrails.config import Action
from mloop.llm.guardrails.pii import PII_KINDS, PiiMatch, RedactionStyle, find_pii, redact


class PiiCheck(TextCheck):
    """Fires when a text contains personal data of the chosen kinds."""

    name: ClassVar[str] = "pii"
    actions: ClassVar[frozenset[str]] = ALL_ACTIONS

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        kinds = opts.string_list("kinds") or list(PII_KINDS)
        unknown = sorted(set(kinds) - set(PII_KINDS))
        if unknown:
            raise OptionError(
                "kinds", f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(PII_KINDS)}"
            )
        self.kinds = frozenset(kinds)
        self.style: RedactionStyle = (
            "mask" if opts.choice("style", "label", ("label", "mask")) == "mask" else "label"
        )
        opts.finish()

    def scan(self, text: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for match in self._find(text):
            counts[match.kind] = counts.get(match.kind, 0) + 1
        return counts

    def replace(self, text: str) -> str:
        return redact(text, self._find(text), style=self.style).text

    def _find(self, text: str) -> list[PiiMatch]:
        try:
            return find_pii(text, self.kinds)
        except ValidationError as exc:  # over pii.MAX_TEXT_CHARS
            raise CheckFailed(exc.message) from None
