"""Usage from the OpenAI-shaped ``usage`` object every adapter returns (streams included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mloop.llm.cost.pricing import Usage


def usage_from_openai(raw: Mapping[str, Any]) -> Usage:
    """Like :meth:`Usage.from_openai`, also honouring ``prompt_tokens_details.
    cache_write_tokens`` (cache creation, which the Anthropic adapter reports there and which
    is billed at its own rate). Raises ValidationError for a report that is not usage."""
    usage = Usage.from_openai(raw)
    details = raw.get("prompt_tokens_details")
    written = details.get("cache_write_tokens") if isinstance(details, Mapping) else None
    if not isinstance(written, int) or isinstance(written, bool) or written <= 0:
        return usage
    written = min(written, usage.input_tokens)
    return Usage(
        input_tokens=usage.input_tokens - written,
        output_tokens=usage.output_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        cache_write_tokens=written,
    )


def stream_usage(chunk: Mapping[str, Any]) -> Usage | None:
    """The Usage a stream chunk reports, or None for a chunk without ``usage``."""
    raw = chunk.get("usage")
    return usage_from_openai(raw) if isinstance(raw, Mapping) else None
