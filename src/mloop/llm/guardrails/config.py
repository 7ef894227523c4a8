"""Configuration of a route's guardrail pipeline (``guardrails: {input: [...], output: [...]}``).

Each entry names a check and the action taken when it fires. Options other than the fields
below go to the check, which validates them when the pipeline is built
(``GuardrailPipeline.from_config``). The checks and their options are documented in
docs/gateway-guardrails.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["block", "redact", "warn", "reask", "fallback"]

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]

DEFAULT_MAX_TEXT_CHARS = 1_000_000
"""The longest single text (a message, a content part, an answer) the pipeline scans."""

DEFAULT_MAX_TOTAL_CHARS = 4_000_000
"""The most characters of one request the pipeline scans, all texts together."""


class GuardrailConfig(BaseModel):
    """One check in a pipeline: ``{check: pii, action: redact, kinds: [email]}``. Options
    other than the declared fields go to the check."""

    model_config = ConfigDict(extra="allow")

    check: str = Field(min_length=1, max_length=128)
    action: Action = "block"
    name: str | None = Field(default=None, max_length=128)
    # Input stage: the roles of the messages this check reads (the check's default when not
    # given; the injection check reads user, tool and function messages only).
    roles: list[Role] | None = None
    # Action reask: how many times the gateway may ask again for this entry, and what happens
    # once they are used up.
    max_reasks: int = Field(default=1, ge=0, le=5)
    reask_exhausted: Literal["block", "warn"] = "block"

    def options(self) -> dict[str, Any]:
        """The check's own options (the entry's undeclared keys)."""
        return dict(self.model_extra or {})


class GuardrailsConfig(BaseModel):
    """A route's ``guardrails`` section: checks on the request and on the answer, in order."""

    model_config = ConfigDict(extra="forbid")

    input: list[GuardrailConfig] = Field(default_factory=list)
    output: list[GuardrailConfig] = Field(default_factory=list)
    # Texts over these sizes are not scanned: the pipeline blocks them (fail closed).
    max_text_chars: int = Field(default=DEFAULT_MAX_TEXT_CHARS, ge=1, le=16_000_000)
    max_total_chars: int = Field(default=DEFAULT_MAX_TOTAL_CHARS, ge=1, le=64_000_000)
