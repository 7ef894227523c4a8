"""The gateway's request and result types, in OpenAI's wire format.

Requests are validated at the boundary with pydantic (unknown fields are kept and passed on to
OpenAI-compatible providers, so new OpenAI parameters work without a gateway release).
Responses stay plain dicts in OpenAI's ``chat.completion`` / ``chat.completion.chunk`` /
embeddings shape: every provider adapter translates into that shape, and the gateway returns it
as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mloop.llm.usage import Usage

MAX_MESSAGES = 10_000

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(BaseModel):
    """One message. ``content`` is text or a list of OpenAI content parts."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(
            str(part.get("text", "")) for part in self.content if part.get("type") == "text"
        )


# Parameters that change what a model answers: they are part of the cache fingerprint.
OUTPUT_PARAMS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
)


class ChatRequest(BaseModel):
    """A chat completion request as the OpenAI API defines it, plus mloop's ``prompt``.

    ``model`` names a route (``support-reply``) or a provider model (``openai/gpt-4o-mini``).
    Instead of ``messages`` a request may name a registered prompt (``prompt:
    "support-reply@production"``) and its ``variables``; the gateway renders it.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] | None = Field(default=None, max_length=MAX_MESSAGES)
    prompt: str | None = Field(default=None, max_length=512)
    variables: dict[str, Any] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, value: list[ChatMessage] | None) -> list[ChatMessage] | None:
        if value is not None and not value:
            raise ValueError("messages is empty: send at least one message")
        return value

    @property
    def is_deterministic(self) -> bool:
        """Temperature 0 or a fixed seed: the settings under which caching is on by default."""
        return self.temperature == 0 or self.seed is not None

    def output_params(self) -> dict[str, Any]:
        """The set parameters that affect the answer (for cache fingerprints)."""
        data = self.model_dump(include=set(OUTPUT_PARAMS), exclude_none=True)
        return data

    def provider_body(self, model: str) -> dict[str, Any]:
        """The body to send an OpenAI-compatible provider for ``model``: mloop's own fields
        (``prompt``, ``variables``, ``metadata``) removed."""
        body = self.model_dump(exclude_none=True, exclude={"prompt", "variables", "metadata"})
        body["model"] = model
        return body

    def text(self) -> str:
        """All message texts joined, for guardrails and semantic cache keys."""
        return "\n".join(m.text() for m in self.messages or [])


class EmbeddingRequest(BaseModel):
    """An embeddings request (OpenAI shape): one string or a list of strings."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] = Field()
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("input is empty: send a string or a non-empty list of strings")
            if len(value) > 2048:
                raise ValueError(f"input has {len(value)} items; at most 2048 per request")
        return value

    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


@dataclass
class ChatResult:
    """A finished chat completion from one provider model.

    ``body`` is OpenAI's ``chat.completion`` object; ``usage`` is what the provider reported
    (or, for a stream, assembled from its final chunk).
    """

    body: dict[str, Any]
    usage: Usage
    provider: str
    model: str

    def text(self) -> str:
        choices = self.body.get("choices") or []
        if not choices:
            return ""
        content = (choices[0].get("message") or {}).get("content")
        return content if isinstance(content, str) else ""


@dataclass
class EmbeddingResult:
    """OpenAI's embeddings ``list`` object and the usage it reports."""

    body: dict[str, Any]
    usage: Usage
    provider: str
    model: str
    vectors: list[list[float]] = field(default_factory=list)
