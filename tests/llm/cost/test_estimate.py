"""The estimate a budget reserves for a request: tokens counted, output allowance, answers."""

from __future__ import annotations

from typing import Any

from mloop.llm.config import RouteConfig
from mloop.llm.cost.estimate import (
    IMAGE_PART_TOKENS,
    REASK_MESSAGE_BYTES,
    capped,
    count_tokens,
    estimate_chat,
    estimate_embeddings,
    max_answers,
    prompt_tokens,
)
from mloop.llm.types import ChatRequest, EmbeddingRequest

TARGETS = [{"provider": "a", "model": "m"}, {"provider": "b", "model": "m"}]


def _chat(**body: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": "Where is my order?"}], **body}
    )


def test_count_tokens_is_an_upper_bound_of_one_token_per_utf8_byte() -> None:
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 4
    assert count_tokens("日本語") == 9
    assert count_tokens("🙂") == 4
    # Dense text a quarter-token-per-character count would under-count is still covered.
    assert count_tokens("1234567890" * 10) == 100


def test_prompt_tokens_count_framing_tools_and_response_format() -> None:
    assert prompt_tokens(_chat()) == 3 + 4 + 18  # request, message framing, 18 bytes
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}]
    assert prompt_tokens(_chat(tools=tools)) > prompt_tokens(_chat())
    schema = {"type": "json_object"}
    assert prompt_tokens(_chat(response_format=schema)) > prompt_tokens(_chat())


def test_image_parts_count_a_fixed_bound_and_other_parts_their_bytes() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 50_000}},
    ]
    request = ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": parts}]}
    )
    assert prompt_tokens(request) == 3 + 4 + 13 + IMAGE_PART_TOKENS
    audio = {"type": "input_audio", "input_audio": {"data": "B" * 1000, "format": "wav"}}
    with_audio = ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": [audio]}]}
    )
    assert prompt_tokens(with_audio) > 1000
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}]
    assert prompt_tokens(_chat(tools=tools)) > prompt_tokens(_chat())
    schema = {"type": "json_object"}
    assert prompt_tokens(_chat(response_format=schema)) > prompt_tokens(_chat())


def test_output_allowance_is_max_tokens_else_the_route_default_times_n() -> None:
    route = RouteConfig(targets=TARGETS, reserve_output_tokens=300)
    assert estimate_chat(_chat(), route).output_tokens == 300
    assert estimate_chat(_chat(max_tokens=50), route).output_tokens == 50
    assert estimate_chat(_chat(max_completion_tokens=70, max_tokens=50), route).output_tokens == 70
    assert estimate_chat(_chat(max_tokens=50, n=3), route).output_tokens == 150
    assert RouteConfig(targets=TARGETS).reserve_output_tokens == 1024


def test_answers_cover_every_reask_and_fallback_the_guardrails_allow() -> None:
    assert max_answers(RouteConfig(targets=TARGETS)) == 1
    reask = {"check": "length", "action": "reask", "max_reasks": 2, "max_output_chars": 10}
    fallback = {"check": "length", "action": "fallback", "max_output_chars": 10}
    route = RouteConfig(targets=TARGETS, guardrails={"output": [reask, fallback]})
    assert max_answers(route) == 1 + 2 + 1
    estimate = estimate_chat(_chat(max_tokens=10), route)
    usage = estimate.usage()
    # Each re-ask sends the previous answer (10) and a message back (framed): answers 2 to 4
    # carry 1, 2 and 2 such exchanges.
    growth = 10 + 2 * 4 + REASK_MESSAGE_BYTES
    assert usage.input_tokens == 25 * 4 + (0 + 1 + 2 + 2) * growth
    assert usage.output_tokens == 10 * 4


def test_capped_sends_the_route_allowance_in_the_parameter_the_route_names() -> None:
    route = RouteConfig(targets=TARGETS, reserve_output_tokens=64)
    assert capped(_chat(), route).max_tokens == 64
    assert capped(_chat(max_tokens=5), route).max_tokens == 5  # the caller's own cap stays
    assert capped(_chat(max_completion_tokens=7), route).max_tokens is None
    newer = RouteConfig(
        targets=TARGETS, reserve_output_tokens=64, cap_output="max_completion_tokens"
    )
    request = capped(_chat(), newer)
    assert (request.max_completion_tokens, request.max_tokens) == (64, None)
    off = RouteConfig(targets=TARGETS, cap_output="none")
    assert capped(_chat(), off).max_tokens is None


def test_embeddings_estimate_their_input_only() -> None:
    estimate = estimate_embeddings(EmbeddingRequest(model="e", input=["abcd", "abcdefgh"]))
    assert (estimate.input_tokens, estimate.output_tokens) == (12, 0)
