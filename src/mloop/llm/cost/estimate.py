"""What a request may cost, estimated before it is sent: the amount a budget reserves.

Tokens are counted without a tokenizer: a quarter token per ASCII character (rounded up) and
one per other character, plus a few tokens of chat framing per message. That is close to
real tokenizers for English, over-counts CJK text, and can under-count unusual text (long
digit strings, code in some tokenizers); the difference is settled when the call ends.

The output allowance is the request's ``max_completion_tokens`` or ``max_tokens``, else the
route's ``reserve_output_tokens``, times ``n``. A route whose output guardrails may ask again
(``reask``) or try the next target (``fallback``) can pay for several answers: the estimate
covers the most the configuration allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mloop.llm.config import RouteConfig
from mloop.llm.types import ChatRequest, EmbeddingRequest
from mloop.llm.usage import Usage

# Tokens of chat framing per message and per request (OpenAI documents 3 to 4 and 3).
PER_MESSAGE_TOKENS = 4
PER_REQUEST_TOKENS = 3


def count_tokens(text: str) -> int:
    """A tokenizer-free count of the tokens in ``text`` (see the module docstring)."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)


def _json_tokens(value: Any) -> int:
    if not value:
        return 0
    return count_tokens(json.dumps(value, separators=(",", ":"), default=str))


@dataclass(frozen=True)
class CallEstimate:
    """The tokens one answer is expected to use at most, and how many answers a call may
    pay for; :meth:`usage` is what to price."""

    input_tokens: int
    output_tokens: int
    answers: int = 1

    def usage(self) -> Usage:
        """The usage of all the answers together, billed as full-price input and output."""
        return Usage(
            input_tokens=self.input_tokens * self.answers,
            output_tokens=self.output_tokens * self.answers,
        )


def prompt_tokens(request: ChatRequest) -> int:
    """The input tokens of a chat request: messages, tool calls, tool definitions and the
    response format."""
    total = PER_REQUEST_TOKENS
    for message in request.messages or []:
        total += PER_MESSAGE_TOKENS + count_tokens(message.text())
        total += _json_tokens(message.tool_calls)
    return total + _json_tokens(request.tools) + _json_tokens(request.response_format)


def max_answers(route: RouteConfig) -> int:
    """How many answers one call through ``route`` may pay for: one, plus every re-ask its
    output guardrails allow, plus the other targets when one of them may fall back."""
    output = route.guardrails.output
    reasks = sum(entry.max_reasks for entry in output if entry.action == "reask")
    fallbacks = len(route.targets) - 1 if any(e.action == "fallback" for e in output) else 0
    return 1 + reasks + fallbacks


def estimate_chat(request: ChatRequest, route: RouteConfig) -> CallEstimate:
    """The estimate of a chat request sent through ``route``."""
    allowance = request.max_completion_tokens or request.max_tokens or route.reserve_output_tokens
    return CallEstimate(
        input_tokens=prompt_tokens(request),
        output_tokens=allowance * (request.n or 1),
        answers=max_answers(route),
    )


def estimate_embeddings(request: EmbeddingRequest) -> CallEstimate:
    """The estimate of an embeddings request: its input tokens, no output."""
    return CallEstimate(sum(count_tokens(text) for text in request.inputs()), 0)
