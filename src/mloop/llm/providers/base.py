"""The interface every provider adapter implements.

An adapter speaks one provider's API and translates to and from OpenAI's wire format
(``mloop.llm.types``). It raises :class:`mloop.llm.errors.ProviderError` for every failure,
classified by kind, and never puts its key into a message. Adapters hold one pooled
``aiohttp`` session each; the gateway creates them once and closes them on shutdown.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from mloop.llm.errors import ProviderError
from mloop.llm.types import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult


class Provider(ABC):
    """One configured provider (``openai``, ``anthropic``, a vLLM server, ...)."""

    #: the adapter type, as written in the gateway configuration (``kind: openai``)
    kind: str = ""

    def __init__(self, name: str) -> None:
        #: the provider's name in the gateway configuration; routes refer to it
        self.name = name

    @abstractmethod
    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        """One non-streaming completion of ``request`` by ``model``."""

    @abstractmethod
    def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream ``chat.completion.chunk`` dicts. The last chunk carries ``usage`` when the
        provider reports it. ``timeout`` bounds the wait for each chunk, the first included.
        Errors before the first chunk raise ProviderError from the first ``__anext__``."""

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResult:
        """Embeddings of ``request.input`` by ``model``."""
        raise ProviderError(
            "not_found",
            f"provider kind {self.kind!r} does not serve embeddings",
            provider=self.name,
            model=model,
        )

    async def aclose(self) -> None:  # noqa: B027 - adapters without connections need nothing
        """Release connections."""
