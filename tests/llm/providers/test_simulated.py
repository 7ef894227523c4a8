"""The simulated demo provider: deterministic, plausible, and plainly simulated."""

from __future__ import annotations

import base64
import math
import struct

import pytest
from tests.llm.providers.conftest import collect, run

from mloop.llm.providers.simulated import FINGERPRINT, SimulatedProvider, simulated_embedding
from mloop.llm.types import ChatRequest, EmbeddingRequest
from mloop.llm.usage import Usage


def _request(text: str, **extra: object) -> ChatRequest:
    return ChatRequest(
        model="support-reply",
        messages=[
            {"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": text},
        ],
        **extra,
    )


def test_answers_are_deterministic_echo_the_topic_and_say_simulated() -> None:
    provider = SimulatedProvider("demo")
    first = run(
        provider.chat(
            _request("My invoice shows the wrong VAT number"), "simulated-small", timeout=5
        )
    )
    again = run(
        provider.chat(
            _request("My invoice shows the wrong VAT number"), "simulated-small", timeout=5
        )
    )
    assert first.body["choices"] == again.body["choices"]
    text = first.text()
    assert text.startswith("[simulated] ")
    assert "invoice shows the wrong VAT number" in text
    assert first.body["system_fingerprint"] == FINGERPRINT
    assert first.body["model"] == "simulated-small"


def test_different_questions_get_different_answers() -> None:
    provider = SimulatedProvider("demo")
    questions = [f"question number {i} about billing" for i in range(12)]
    answers = {
        run(provider.chat(_request(q), "m", timeout=5)).text().split(":")[0] for q in questions
    }
    assert len(answers) > 1  # several templates are in use, not one canned reply


def test_usage_is_counted_from_the_text() -> None:
    provider = SimulatedProvider("demo")
    request = _request("Where is my parcel?")
    result = run(provider.chat(request, "m", timeout=5))
    assert result.usage.output_tokens == math.ceil(len(result.text()) / 4)
    expected_input = sum(math.ceil(len(m.text()) / 4) + 3 for m in request.messages or []) + 3
    assert result.usage == Usage(
        input_tokens=expected_input, output_tokens=result.usage.output_tokens
    )
    assert result.body["usage"]["total_tokens"] == expected_input + result.usage.output_tokens


def test_stream_matches_the_answer_word_by_word() -> None:
    provider = SimulatedProvider("demo")
    request = _request("Can I change my delivery address?")
    answer = run(provider.chat(request, "m", timeout=5))
    chunks = run(collect(provider.stream(request, "m", timeout=5)))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert "".join(pieces) == answer.text()
    assert len(pieces) == len(answer.text().split(" "))
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert Usage.from_openai(chunks[-1]["usage"]) == answer.usage


def test_empty_user_message_still_answers() -> None:
    result = run(SimulatedProvider("demo").chat(_request(""), "m", timeout=5))
    assert "your request" in result.text()


def test_embeddings_are_unit_vectors_and_word_overlap_is_closer() -> None:
    provider = SimulatedProvider("demo")
    texts = ["reset my password", "how do I reset my password", "pizza recipe with basil"]
    result = run(
        provider.embed(EmbeddingRequest(model="e", input=texts), "simulated-embed", timeout=5)
    )
    a, b, c = result.vectors
    assert all(len(v) == 384 for v in result.vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-9 for v in result.vectors)

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(a, b) > cos(a, c)
    assert simulated_embedding("reset my password") == a
    assert result.usage.input_tokens == sum(math.ceil(len(t) / 4) for t in texts)


def test_embeddings_dimensions_and_base64() -> None:
    provider = SimulatedProvider("demo")
    request = EmbeddingRequest(model="e", input="hello", dimensions=16, encoding_format="base64")
    result = run(provider.embed(request, "e", timeout=5))
    encoded = result.body["data"][0]["embedding"]
    decoded = struct.unpack("<16f", base64.b64decode(encoded))
    assert all(abs(x - y) < 1e-6 for x, y in zip(decoded, result.vectors[0], strict=True))


def test_a_simulated_outage_fails_the_next_calls_then_recovers() -> None:
    from mloop.llm.errors import ProviderError

    provider = SimulatedProvider("sim")
    request = _request("hello")
    provider.simulate_outage(2)
    for _ in range(2):
        with pytest.raises(ProviderError) as info:
            run(provider.chat(request, "simulated-small", timeout=1))
        assert info.value.kind == "server" and info.value.retryable
    assert run(provider.chat(request, "simulated-small", timeout=1)).text()
    with pytest.raises(ValueError, match="calls must be 0 or more"):
        provider.simulate_outage(-1)
