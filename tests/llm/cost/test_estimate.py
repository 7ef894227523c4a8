"""The estimate a budget reserves for a request: tokens counted, output allowance, answers."""

from __future__ import annotations

from typing import Any

from mloop.llm.config import RouteConfig
from mloop.llm.cost.estimate import (
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


def test_count_tokens_rounds_ascii_up_and_counts_other_characters_one_each() -> None:
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2
    assert count_tokens("日本語") == 3


def test_prompt_tokens_count_framing_tools_and_response_format() -> None:
    assert prompt_tokens(_chat()) == 3 + 4 + 5  # request, message framing, 18 characters
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
    assert (usage.input_tokens, usage.output_tokens) == (12 * 4, 10 * 4)


def test_embeddings_estimate_their_input_only() -> None:
    estimate = estimate_embeddings(EmbeddingRequest(model="e", input=["abcd", "abcdefgh"]))
    assert (estimate.input_tokens, estimate.output_tokens) == (3, 0)
