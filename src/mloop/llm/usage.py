"""The tokens of one LLM call, and one parser per provider wire format.

Every provider reports usage in one of two shapes: OpenAI's (Chat Completions, Embeddings and
Responses, which the OpenAI-compatible adapters and the gateway's own answers speak) and
Anthropic's Messages. Both parsers split the tokens by the rate each is billed at: full
input, cache reads, cache writes and output. Counts are validated, so a corrupt report never
turns into a cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mloop.core.errors import ValidationError

__all__ = ["MAX_TOKENS", "Usage"]

#: The most tokens one call may report in one category; more is taken as a corrupt report.
MAX_TOKENS = 1_000_000_000


def _tokens(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError(
                f"{name} must be a whole number of tokens, got {value!r}", field=name
            )
    if value < 0:
        raise ValidationError(f"{name} is negative ({value})", field=name)
    if value > MAX_TOKENS:
        raise ValidationError(
            f"{name} is {value}, more than {MAX_TOKENS} tokens in one call; the usage report "
            f"is taken as corrupt",
            field=name,
        )
    return value


def _mapping(usage: Any) -> Mapping[str, Any]:
    if not isinstance(usage, Mapping):
        raise ValidationError(f"usage must be a mapping, got {type(usage).__name__}", field="usage")
    return usage


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, split by the rate each is billed at.

    ``input_tokens`` are billed at the full input rate and exclude ``cached_input_tokens``
    (cache reads) and ``cache_write_tokens`` (cache creation). ``output_tokens`` include
    reasoning tokens.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens"):
            object.__setattr__(self, name, _tokens(getattr(self, name), name))

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any]) -> Usage:
        """From an OpenAI ``usage`` object (Chat Completions, Embeddings or Responses shape).

        OpenAI counts cache reads (``cached_tokens``) inside ``prompt_tokens``
        (``input_tokens`` in the Responses API); they are taken out and billed at the cached
        rate. Cache writes (``cache_write_tokens``, which OpenAI does not report but the
        Anthropic adapter and some compatible servers do) are taken out the same way and
        billed at the cache-write rate. Raises ValidationError for a report that is not usage.
        """
        usage = _mapping(usage)
        if "prompt_tokens" in usage:
            prompt = _tokens(usage.get("prompt_tokens"), "prompt_tokens")
            output = _tokens(usage.get("completion_tokens"), "completion_tokens")
            details = usage.get("prompt_tokens_details") or {}
            details_key = "prompt_tokens_details"
        else:
            prompt = _tokens(usage.get("input_tokens"), "input_tokens")
            output = _tokens(usage.get("output_tokens"), "output_tokens")
            details = usage.get("input_tokens_details") or {}
            details_key = "input_tokens_details"
        cached_name = f"{details_key}.cached_tokens"
        if not isinstance(details, Mapping):
            raise ValidationError(f"{details_key} must be a mapping", field=cached_name)
        cached = _tokens(details.get("cached_tokens"), cached_name)
        if cached > prompt:
            raise ValidationError(
                f"{cached_name} ({cached}) exceeds the prompt's {prompt} tokens",
                field=cached_name,
            )
        written = details.get("cache_write_tokens")
        # Not part of OpenAI's format: a count that is not a positive integer is ignored
        # rather than failing the call, and it is capped at what the prompt leaves.
        if not isinstance(written, int) or isinstance(written, bool) or written <= 0:
            written = 0
        written = min(written, prompt - cached)
        return cls(
            input_tokens=prompt - cached - written,
            output_tokens=output,
            cached_input_tokens=cached,
            cache_write_tokens=written,
        )

    @classmethod
    def from_anthropic(cls, usage: Mapping[str, Any]) -> Usage:
        """From an Anthropic Messages ``usage`` object.

        Anthropic reports ``input_tokens`` apart from ``cache_read_input_tokens`` and
        ``cache_creation_input_tokens``, so each is billed at its own rate as reported.
        """
        usage = _mapping(usage)
        return cls(
            input_tokens=_tokens(usage.get("input_tokens"), "input_tokens"),
            output_tokens=_tokens(usage.get("output_tokens"), "output_tokens"),
            cached_input_tokens=_tokens(
                usage.get("cache_read_input_tokens"), "cache_read_input_tokens"
            ),
            cache_write_tokens=_tokens(
                usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens"
            ),
        )
