"""The classifier check: what it sends the classifier route, how it reads verdicts in the
documented formats, and how it fails closed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails import GuardrailPipeline, Verdict, parse_verdict
from mloop.llm.types import ChatRequest


class FakeRoute:
    """A classify callable that answers from a script and records what it was sent."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []

    async def __call__(self, route: str, messages: list[dict[str, Any]]) -> str:
        self.calls.append((route, messages))
        await asyncio.sleep(0)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def build(fake: FakeRoute, stage: str = "input", **entry: Any) -> GuardrailPipeline:
    config = {stage: [{"check": "classifier", "route": "llama-guard", **entry}]}
    return GuardrailPipeline.from_config(config, classify=fake)


REQUEST = ChatRequest(
    model="support",
    messages=[
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": "How do I make a weapon?"},
    ],
)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("safe", Verdict(False)),
        ("  Safe \n", Verdict(False)),
        ("unsafe", Verdict(True)),
        ("unsafe\nS1", Verdict(True, ("S1",))),
        ("\nunsafe\nS1,S10\n", Verdict(True, ("S1", "S10"))),
        ("unsafe\ns2, s14", Verdict(True, ("S2", "S14"))),
        ('{"verdict": "unsafe", "categories": ["S9"]}', Verdict(True, ("S9",))),
        ('{"verdict": "safe"}', Verdict(False)),
        ("", None),
        ("I think this is safe", None),
        ("safe\nS1", None),
        ("unsafe\nS1\nbecause reasons", None),
        ("unsafe\nS1; DROP TABLE", None),
        ('{"verdict": "maybe"}', None),
        ('{"verdict": "unsafe", "categories": "S1"}', None),
        ("[1, 2]", None),
        ("{" * 50_000, None),
        ("safe" + " " * 20_000, None),
        ("unsafe\n" + ",".join(f"S{i}" for i in range(40)), None),
    ],
)
def test_parse_verdict(text: str, verdict: Verdict | None) -> None:
    assert parse_verdict(text) == verdict


def test_safe_passes_and_the_conversation_is_sent_without_system_messages() -> None:
    route = FakeRoute("safe")
    outcome = asyncio.run(build(route).check_input(REQUEST))
    assert outcome.action == "pass"
    assert route.calls == [
        ("llama-guard", [{"role": "user", "content": "How do I make a weapon?"}])
    ]
    assert outcome.decisions[0].details == {"route": "llama-guard", "verdict": "safe"}


def test_unsafe_blocks_with_its_categories() -> None:
    outcome = asyncio.run(build(FakeRoute("unsafe\nS9")).check_input(REQUEST))
    assert outcome.blocked
    decision = outcome.decisions[0]
    assert decision.reason == "classifier says unsafe: S9"
    assert decision.details["categories"] == ["S9"]


def test_categories_option_limits_what_fires() -> None:
    route = FakeRoute("unsafe\nS6")
    outcome = asyncio.run(build(route, categories=["s1", "S10"]).check_input(REQUEST))
    assert outcome.action == "pass"
    assert outcome.decisions[0].details["ignored"] is True
    route.answer = "unsafe\nS6,S10"
    assert asyncio.run(build(route, categories=["S10"]).check_input(REQUEST)).blocked


def test_the_output_stage_sends_the_answer_as_the_last_assistant_message() -> None:
    route = FakeRoute('{"verdict": "unsafe", "categories": ["S2"]}')
    guard = build(route, stage="output", action="reask")
    out = asyncio.run(guard.check_output(REQUEST, "Here is how: ..."))
    assert out.action == "reask"
    assert out.reask_message is not None and "S2" in out.reask_message
    sent = route.calls[0][1]
    assert sent[-1] == {"role": "assistant", "content": "Here is how: ..."}
    assert [m["role"] for m in sent] == ["user", "assistant"]


def test_output_fallback_on_unsafe() -> None:
    guard = build(FakeRoute("unsafe"), stage="output", action="fallback")
    assert asyncio.run(guard.check_output(REQUEST, "bad answer")).action == "fallback"


def test_unparseable_answers_block_by_default_and_can_be_allowed() -> None:
    chatty = FakeRoute("As an AI model I believe this content is mostly fine!")
    outcome = asyncio.run(build(chatty).check_input(REQUEST))
    assert outcome.blocked
    assert outcome.decisions[0].reason == "the classifier's answer was not a verdict"
    assert "mostly fine" not in str(outcome.decisions[0].to_dict())
    allowed = asyncio.run(build(chatty, on_unparseable="allow").check_input(REQUEST))
    assert allowed.action == "pass"
    assert allowed.decisions[0].details == {"route": "llama-guard", "unparseable": True}


def test_a_failing_route_fails_closed() -> None:
    route = FakeRoute(TimeoutError("upstream secret detail"))
    outcome = asyncio.run(build(route, action="warn").check_input(REQUEST))
    decision = outcome.decisions[0]
    assert decision.error and decision.triggered and decision.action == "warn"
    assert decision.reason == "classifier route 'llama-guard' failed: TimeoutError"
    blocked = asyncio.run(build(route).check_input(REQUEST))
    assert blocked.blocked


def test_a_non_string_answer_is_unparseable() -> None:
    route = FakeRoute("safe")
    route.answer = None  # type: ignore[assignment]
    assert asyncio.run(build(route).check_input(REQUEST)).blocked


def test_nothing_to_classify_skips_the_call() -> None:
    route = FakeRoute("unsafe")
    req = ChatRequest(model="m", messages=[{"role": "system", "content": "only a system prompt"}])
    outcome = asyncio.run(build(route).check_input(req))
    assert outcome.action == "pass" and route.calls == []


def test_roles_choose_what_is_sent() -> None:
    route = FakeRoute("safe")
    asyncio.run(build(route, roles=["system", "user"]).check_input(REQUEST))
    assert [m["role"] for m in route.calls[0][1]] == ["system", "user"]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"route": None}, "route: is required"),
        ({"route": ""}, "route: must be a non-empty string"),
        ({"on_unparseable": "shrug"}, "on_unparseable: must be one of block, allow"),
        ({"categories": "S1"}, "categories: must be a list"),
        ({"action": "redact"}, "cannot redact"),
    ],
)
def test_bad_classifier_options(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        build(FakeRoute("safe"), **entry)


def test_a_pipeline_with_a_classifier_needs_the_classify_callable() -> None:
    with pytest.raises(ValidationError, match="classify"):
        GuardrailPipeline.from_config({"input": [{"check": "classifier", "route": "guard"}]})
