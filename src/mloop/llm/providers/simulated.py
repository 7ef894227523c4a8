"""A simulated provider for the demo when no real provider is configured.

It answers in-process, deterministically: a support-assistant reply picked by a hash of the
last user message, echoing its topic, with usage counted as about four characters a token.
Everything it returns says it is simulated: the answer starts with ``[simulated]`` and the
body's ``system_fingerprint`` is ``mloop-simulated``. Embeddings are bag-of-words vectors
built from hashed words, so texts sharing words are close, which is enough to show a
semantic cache at work.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from mloop.llm.errors import ProviderError
from mloop.llm.providers._vectors import encode_vector
from mloop.llm.providers.base import Provider
from mloop.llm.types import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult
from mloop.llm.usage import Usage

FINGERPRINT = "mloop-simulated"
EMBEDDING_DIMENSIONS = 384
PREFIX = "[simulated] "

_TEMPLATES = (
    "Thanks for reaching out about {topic}. Here is what usually solves it: check the "
    "settings page, make sure your account details are up to date, and try again. If it "
    "still fails, reply with the exact error message and we will look into it.",
    "I'm sorry you ran into trouble with {topic}. I've noted the details. Most customers "
    "fix this by signing out and back in; if that does not help, our team can reset it for "
    "you within one business day.",
    "Good question about {topic}. The short answer: yes, it is supported. You can find the "
    "option under Account > Preferences, and the change takes effect immediately.",
    "Regarding {topic}: I can help with that. Could you tell me your order number and when "
    "the problem started? With those I can check the status and suggest the next step.",
)
_WORD = re.compile(r"[\w']+", re.UNICODE)


def approx_tokens(text: str) -> int:
    """About four characters a token, rounded up."""
    return math.ceil(len(text) / 4)


def _topic(text: str) -> str:
    words = _WORD.findall(text)
    if not words:
        return "your request"
    topic = " ".join(words[:8])
    return f'"{topic}…"' if len(words) > 8 else f'"{topic}"'


def simulated_answer(request: ChatRequest) -> str:
    """The deterministic answer to ``request``."""
    last_user = next((m.text() for m in reversed(request.messages or []) if m.role == "user"), "")
    digest = hashlib.sha256(last_user.encode()).digest()
    template = _TEMPLATES[digest[0] % len(_TEMPLATES)]
    return PREFIX + template.format(topic=_topic(last_user))


def _answer(request: ChatRequest) -> tuple[str, str]:
    """The answer's text and finish reason: cut to the request's output cap, as a real model
    stops at ``max_tokens`` with ``finish_reason: "length"``."""
    text = simulated_answer(request)
    cap = request.max_completion_tokens or request.max_tokens
    if cap is not None and approx_tokens(text) > cap:
        return text[: cap * 4], "length"
    return text, "stop"


def _prompt_tokens(request: ChatRequest) -> int:
    # A few tokens of chat framing per message, as real chat formats add.
    return sum(approx_tokens(m.text()) + 3 for m in request.messages or []) + 3


def _word_vector(word: str, dims: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dims)


def simulated_embedding(text: str, dims: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector: the normalised sum of hashed vectors of the text's lower-case words."""
    words = _WORD.findall(text.lower()) or [text]
    total = np.zeros(dims)
    for word in words:
        total += _word_vector(word, dims)
    norm = float(np.linalg.norm(total)) or 1.0
    return [float(v) for v in total / norm]


class SimulatedProvider(Provider):
    """``kind: simulated``: serves any model name (``simulated-small`` by convention)."""

    kind = "simulated"

    def __init__(self, name: str, *, latency_seconds: float = 0.0) -> None:
        super().__init__(name)
        self.latency_seconds = latency_seconds
        self._outages = 0

    def simulate_outage(self, calls: int = 1) -> None:
        """Fail the next ``calls`` chat calls with a 503 (``server``) error, as a provider
        outage would: the demo shows a route falling back with it."""
        if calls < 0:
            raise ValueError("calls must be 0 or more")
        self._outages = calls

    def _maybe_fail(self, model: str) -> None:
        if self._outages > 0:
            self._outages -= 1
            raise ProviderError(
                "server", "simulated outage (503)", provider=self.name, model=model, status=503
            )

    def __repr__(self) -> str:
        return f"SimulatedProvider(name={self.name!r}, latency_seconds={self.latency_seconds})"

    def _completion_id(self, request: ChatRequest) -> str:
        key = "\n".join(m.text() for m in request.messages or [])
        return "chatcmpl-sim-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def _usage(self, request: ChatRequest, text: str) -> Usage:
        return Usage(input_tokens=_prompt_tokens(request), output_tokens=approx_tokens(text))

    @staticmethod
    def _openai_usage(usage: Usage) -> dict[str, int]:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }

    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        self._maybe_fail(model)
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        text, finish = _answer(request)
        usage = self._usage(request, text)
        body = {
            "id": self._completion_id(request),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": self._openai_usage(usage),
        }
        return ChatResult(body=body, usage=usage, provider=self.name, model=model)

    async def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self._maybe_fail(model)
        text, finish = _answer(request)
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        # The latency is spread over the answer, as a real model streams it.
        pause = self.latency_seconds / (len(pieces) + 1) if self.latency_seconds else 0.0
        base = {
            "id": self._completion_id(request),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        if pause:
            await asyncio.sleep(pause)
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces:
            if pause:
                await asyncio.sleep(pause)
            yield chunk({"content": piece})
        yield chunk({}, finish)
        usage = self._usage(request, text)
        yield {**base, "choices": [], "usage": self._openai_usage(usage)}

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResult:
        dims = request.dimensions or EMBEDDING_DIMENSIONS
        inputs = request.inputs()
        vectors = [simulated_embedding(text, dims) for text in inputs]
        fmt = request.encoding_format
        data = [
            {"object": "embedding", "index": i, "embedding": encode_vector(v, fmt)}
            for i, v in enumerate(vectors)
        ]
        tokens = sum(approx_tokens(t) for t in inputs)
        body = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return EmbeddingResult(
            body=body,
            usage=Usage(input_tokens=tokens),
            provider=self.name,
            model=model,
            vectors=vectors,
        )
