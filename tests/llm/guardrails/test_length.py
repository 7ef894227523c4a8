"""Length limits on the request and the answer, and the token estimate they use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails import GuardrailPipeline
from mloop.llm.guardrails.length import approx_tokens
from mloop.llm.types import ChatRequest


def pipeline(stage: str, **entry: Any) -> GuardrailPipeline:
    return GuardrailPipeline.from_config({stage: [{"check": "length", **entry}]})


def request(*texts: str) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": t} for t in texts])


def test_approx_tokens_counts_ascii_by_four_and_other_characters_one_each() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("abcd") == 1
    assert approx_tokens("abcde") == 2
    assert approx_tokens("こんにちは") == 5
    assert approx_tokens("hi こんにちは") == 1 + 5


def test_input_chars_count_all_messages_together() -> None:
    guard = pipeline("input", max_input_chars=10)
    assert asyncio.run(guard.check_input(request("12345", "67890"))).action == "pass"
    outcome = asyncio.run(guard.check_input(request("12345", "678901")))
    assert outcome.blocked
    decision = outcome.decisions[0]
    assert decision.reason == "11 characters over max_input_chars 10"
    assert decision.details == {"chars": 11}


def test_input_tokens() -> None:
    guard = pipeline("input", max_input_tokens=3, action="warn")
    assert not asyncio.run(guard.check_input(request("a" * 12))).decisions[0].triggered
    outcome = asyncio.run(guard.check_input(request("天気がいい")))
    assert outcome.action == "pass" and outcome.decisions[0].triggered
    assert outcome.decisions[0].details["approx_tokens"] == 5


def test_roles_limit_what_is_counted() -> None:
    guard = pipeline("input", max_input_chars=5, roles=["user"])
    req = ChatRequest(
        model="m",
        messages=[
            {"role": "system", "content": "a long system prompt that is not counted"},
            {"role": "user", "content": "hey"},
        ],
    )
    assert asyncio.run(guard.check_input(req)).action == "pass"


def test_output_limits_and_their_reask_message() -> None:
    guard = pipeline("output", max_output_chars=20, max_output_tokens=100, action="reask")
    req = request("q")
    assert asyncio.run(guard.check_output(req, "short")).action == "pass"
    out = asyncio.run(guard.check_output(req, "x" * 21))
    assert out.action == "reask"
    assert out.reask_message is not None and "more briefly" in out.reask_message
    assert "21 characters over max_output_chars 20" in out.reask_message


def test_output_fallback_and_block() -> None:
    req = request("q")
    fallback = pipeline("output", max_output_tokens=2, action="fallback")
    assert asyncio.run(fallback.check_output(req, "many many words")).action == "fallback"
    block = pipeline("output", max_output_chars=2)
    assert asyncio.run(block.check_output(req, "abc")).blocked


@pytest.mark.parametrize(
    ("stage", "entry", "where"),
    [
        ("input", {}, "input[0].max_input_chars: give max_input_chars or max_input_tokens"),
        ("input", {"max_output_chars": 5}, "input[0].max_output_chars: applies to the output"),
        ("output", {"max_input_tokens": 5}, "output[0].max_input_tokens: applies to the input"),
        ("input", {"max_input_chars": 0}, "input[0].max_input_chars: must be at least 1"),
        ("input", {"max_input_chars": 1.5}, "input[0].max_input_chars: must be an integer"),
        ("input", {"max_input_chars": True}, "must be an integer"),
        ("input", {"max_input_chars": 5, "action": "redact"}, "cannot redact"),
    ],
)
def test_bad_length_options(stage: str, entry: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        pipeline(stage, **entry)
    assert where in str(info.value)


def test_a_huge_input_is_blocked_by_the_size_cap_before_any_check() -> None:
    guard = GuardrailPipeline.from_config(
        {"input": [{"check": "length", "max_input_chars": 10**9}], "max_text_chars": 100_000}
    )
    outcome = asyncio.run(guard.check_input(request("x" * 100_001)))
    assert outcome.blocked and outcome.decisions[0].check == "size_limit"
