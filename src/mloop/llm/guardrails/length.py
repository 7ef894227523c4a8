"""The ``length`` check: limits on the size of the request and of the answer.

Input stage options: ``max_input_chars`` and ``max_input_tokens`` (all texts the entry reads,
together). Output stage options: ``max_output_chars`` and ``max_output_tokens``. At least one is
required. Tokens are estimated without a tokenizer (``approx_tokens``): a quarter token per
ASCII character and one per other character, which over-counts English a little and is close
for CJK text; use a provider-side ``max_tokens`` where exact counts matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mloop.llm.guardrails.base import (
    PASSED,
    Check,
    CheckContext,
    CheckResult,
    OptionError,
    Options,
    Stage,
)
from mloop.llm.guardrails.config import Action

_OPTIONS: dict[Stage, tuple[str, str]] = {
    "input": ("max_input_chars", "max_input_tokens"),
    "output": ("max_output_chars", "max_output_tokens"),
}


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate of the tokens in ``text``."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    other = len(text) - ascii_chars
    return (ascii_chars + 3) // 4 + other


class LengthCheck(Check):
    """Fires when the stage's texts are longer than the configured limits."""

    name: ClassVar[str] = "length"
    actions: ClassVar[frozenset[str]] = frozenset({"block", "warn", "reask", "fallback"})

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        chars_key, tokens_key = _OPTIONS[stage]
        other_stage: Stage = "output" if stage == "input" else "input"
        for key in _OPTIONS[other_stage]:
            if key in options:
                raise OptionError(key, f"applies to the {other_stage} stage; use {chars_key}")
        opts = Options(options)
        self.max_chars = opts.integer(chars_key, None, minimum=1)
        self.max_tokens = opts.integer(tokens_key, None, minimum=1)
        opts.finish()
        if self.max_chars is None and self.max_tokens is None:
            raise OptionError(chars_key, f"give {chars_key} or {tokens_key} (or both)")
        self._chars_key, self._tokens_key = chars_key, tokens_key

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        chars = sum(len(t) for t in texts)
        over: list[str] = []
        details: dict[str, Any] = {"chars": chars}
        if self.max_chars is not None and chars > self.max_chars:
            over.append(f"{chars:,} characters over {self._chars_key} {self.max_chars:,}")
        if self.max_tokens is not None:
            tokens = sum(approx_tokens(t) for t in texts)
            details["approx_tokens"] = tokens
            if tokens > self.max_tokens:
                over.append(f"about {tokens:,} tokens over {self._tokens_key} {self.max_tokens:,}")
        if not over:
            return PASSED
        reason = "; ".join(over)
        return CheckResult(
            True,
            reason,
            details,
            reask_message=(
                f"Your answer was too long ({reason}). Answer again, more briefly."
                if ctx.stage == "output"
                else None
            ),
        )
