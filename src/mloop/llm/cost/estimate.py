"""What a request may cost at most, computed before it is sent: the amount a budget reserves.

The estimate is an upper bound, so that concurrent calls can never spend past a ``block``
budget (docs/gateway-cache-and-cost.md states the guarantee):

- Text counts one token per UTF-8 byte. The byte-level BPE tokenizers of OpenAI, Anthropic and
  the open models never make more tokens than bytes; English text is about four bytes a token,
  so the bound holds about four times what a prompt costs, only while the call is in progress.
- An image part counts ``IMAGE_PART_TOKENS``, any other non-text part (audio, a file) the bytes
  of its JSON. Chat framing adds a few tokens per message and per request.
- The output allowance is the request's ``max_completion_tokens`` or ``max_tokens``, else the
  route's ``reserve_output_tokens`` (which the gateway then sends as the cap, see
  ``RouteConfig.cap_output``), times ``n``.
- A route whose output guardrails may ask again (``reask``) or try the next target
  (``fallback``) can pay for several answers, each re-ask sending the previous answer and a
  message of at most ``REASK_MESSAGE_BYTES`` back: the estimate covers the most the
  configuration allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mloop.llm.config import RouteConfig
from mloop.llm.guardrails.base import REASK_MESSAGE_BYTES
from mloop.llm.types import ChatMessage, ChatRequest, EmbeddingRequest
from mloop.llm.usage import Usage

# Tokens of chat framing per message and per request (OpenAI documents 3 to 4 and 3).
PER_MESSAGE_TOKENS = 4
PER_REQUEST_TOKENS = 3
# The most one image costs as input: OpenAI's high-detail tiles, Anthropic's ~1,600 for the
# largest image it accepts unscaled, Gemini's 258 per tile stay under this.
IMAGE_PART_TOKENS = 3_000


def count_tokens(text: str) -> int:
    """The most tokens ``text`` can make: one per UTF-8 byte (see the module docstring)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _json_tokens(value: Any) -> int:
    if not value:
        return 0
    return count_tokens(json.dumps(value, separators=(",", ":"), default=str))


def _content_tokens(message: ChatMessage) -> int:
    if not isinstance(message.content, list):
        return count_tokens(message.text())
    total = 0
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            total += count_tokens(str(part.get("text", "")))
        elif kind in ("image_url", "image"):
            total += IMAGE_PART_TOKENS
        else:
            total += _json_tokens(part)
    return total


@dataclass(frozen=True)
class CallEstimate:
    """The tokens one answer is expected to use at most, and how many answers a call may
    pay for; :meth:`usage` is what to price."""

    input_tokens: int
    output_tokens: int
    answers: int = 1
    # Re-asks among the answers: each sends the previous answer and a message back.
    reasks: int = 0

    def usage(self) -> Usage:
        """The usage of all the answers together, billed as full-price input and output."""
        growth = self.output_tokens + 2 * PER_MESSAGE_TOKENS + REASK_MESSAGE_BYTES
        # Answer j sends the original prompt plus at most min(j, reasks) re-ask exchanges.
        grown = sum(min(j, self.reasks) for j in range(self.answers)) * growth
        return Usage(
            input_tokens=self.input_tokens * self.answers + grown,
            output_tokens=self.output_tokens * self.answers,
        )


def prompt_tokens(request: ChatRequest) -> int:
    """The input tokens of a chat request: messages, tool calls, tool definitions and the
    response format."""
    total = PER_REQUEST_TOKENS
    for message in request.messages or []:
        total += PER_MESSAGE_TOKENS + _content_tokens(message)
        total += _json_tokens(message.tool_calls)
    return total + _json_tokens(request.tools) + _json_tokens(request.response_format)


def max_reasks(route: RouteConfig) -> int:
    """How many times the output guardrails of ``route`` may ask again in one call."""
    return sum(entry.max_reasks for entry in route.guardrails.output if entry.action == "reask")


def max_answers(route: RouteConfig) -> int:
    """How many answers one call through ``route`` may pay for: one, plus every re-ask its
    output guardrails allow, plus the other targets when one of them may fall back."""
    output = route.guardrails.output
    fallbacks = len(route.targets) - 1 if any(e.action == "fallback" for e in output) else 0
    return 1 + max_reasks(route) + fallbacks


def estimate_chat(request: ChatRequest, route: RouteConfig) -> CallEstimate:
    """The estimate of a chat request sent through ``route``."""
    allowance = request.max_completion_tokens or request.max_tokens or route.reserve_output_tokens
    return CallEstimate(
        input_tokens=prompt_tokens(request),
        output_tokens=allowance * (request.n or 1),
        answers=max_answers(route),
        reasks=max_reasks(route),
    )


def capped(request: ChatRequest, route: RouteConfig) -> ChatRequest:
    """``request`` with the route's ``reserve_output_tokens`` as its output cap, in the
    parameter the route's ``cap_output`` names, when it sets none: what the gateway sends
    under a ``block`` budget, so the answer cannot outgrow what the budget holds."""
    if request.max_completion_tokens or request.max_tokens or route.cap_output == "none":
        return request
    return request.model_copy(update={route.cap_output: route.reserve_output_tokens})


def estimate_embeddings(request: EmbeddingRequest) -> CallEstimate:
    """The estimate of an embeddings request: its input tokens, no output."""
    return CallEstimate(sum(count_tokens(text) for text in request.inputs()), 0)
