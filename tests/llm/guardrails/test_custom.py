"""Custom checks: registration, references by name and import path, the results a function may
return, async functions, and failures that must fail closed."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails import (
    GuardrailPipeline,
    GuardrailResult,
    InputOutcome,
    OutputOutcome,
    guardrail,
    registered_guardrails,
    unregister_guardrail,
)
from mloop.llm.types import ChatRequest

REQUEST = ChatRequest(
    model="m",
    messages=[
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "tell me about Acme Corp"},
    ],
)


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Names registered by a test, removed afterwards."""
    registered: list[str] = []
    yield registered
    for name in registered:
        unregister_guardrail(name)


def register(names: list[str], name: str, fn: Any) -> None:
    guardrail(name)(fn)
    names.append(name)


def run_input(function: str, **entry: Any) -> InputOutcome:
    pipeline = GuardrailPipeline.from_config(
        {"input": [{"check": "custom", "function": function, **entry}]}
    )
    return asyncio.run(pipeline.check_input(REQUEST))


def run_output(function: str, text: str, **entry: Any) -> OutputOutcome:
    pipeline = GuardrailPipeline.from_config(
        {"output": [{"check": "custom", "function": function, **entry}]}
    )
    return asyncio.run(pipeline.check_output(REQUEST, text))


def test_a_registered_function_runs_on_each_message_with_its_stage(names: list[str]) -> None:
    calls: list[tuple[str, str]] = []

    def competitor(text: str, stage: str) -> bool:
        calls.append((text, stage))
        return "acme" in text.lower()

    register(names, "test-competitor", competitor)
    assert registered_guardrails()["test-competitor"] is competitor
    outcome = run_input("test-competitor")
    assert outcome.blocked
    assert outcome.decisions[0].reason == "test-competitor fired"
    assert calls == [("be nice", "input"), ("tell me about Acme Corp", "input")]
    out = run_output("test-competitor", "Acme Corp is great", action="fallback")
    assert out.action == "fallback" and calls[-1] == ("Acme Corp is great", "output")


@pytest.mark.parametrize(
    ("returned", "triggered", "reason"),
    [
        (None, False, ""),
        (False, False, ""),
        (True, True, "test-result fired"),
        (GuardrailResult(True, "too salesy", {"score": 0.9}), True, "too salesy"),
        (GuardrailResult(False, "fine"), False, ""),
        ({"triggered": True, "reason": "from a dict"}, True, "from a dict"),
        ({"triggered": False}, False, ""),
    ],
)
def test_accepted_results(names: list[str], returned: Any, triggered: bool, reason: str) -> None:
    register(names, "test-result", lambda text: returned)
    out = run_output("test-result", "x", action="warn")
    decision = out.decisions[0]
    assert (decision.triggered, decision.reason, decision.error) == (triggered, reason, False)
    if isinstance(returned, GuardrailResult) and returned.triggered:
        assert decision.details["details"] == {"score": 0.9}


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        (1, "returned int"),
        ("yes", "returned str"),
        ({"triggered": "yes"}, "triggered is not a bool"),
        ({"reason": "no triggered key"}, "triggered is not a bool"),
        ({"triggered": True, "details": [1]}, "details a mapping"),
        ({"triggered": True, "text": 5}, "text must be a str"),
    ],
)
def test_other_results_are_errors_that_fail_closed(
    names: list[str], returned: Any, words: str
) -> None:
    register(names, "test-bad-result", lambda text: returned)
    out = run_output("test-bad-result", "x")
    decision = out.decisions[0]
    assert decision.error and decision.triggered and words in decision.reason
    assert out.action == "block"


def test_exceptions_fail_closed_without_their_message(
    names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    def explode(text: str) -> bool:
        raise KeyError(f"no entry for {text}")

    register(names, "test-explode", explode)
    outcome = run_input("test-explode")
    decision = outcome.decisions[0]
    assert outcome.blocked and decision.error
    assert decision.reason == "custom check test-explode raised KeyError"
    assert "Acme" not in str(decision.to_dict())
    assert "test-explode" in caplog.text  # the traceback goes to the log for the operator
    warned = run_input("test-explode", action="warn")
    assert warned.action == "pass" and warned.decisions[0].action == "warn"


def test_redact_uses_the_text_the_function_returns(names: list[str]) -> None:
    def mask_acme(text: str) -> GuardrailResult | None:
        if "Acme" in text:
            return GuardrailResult(True, "competitor", text=text.replace("Acme Corp", "[CO]"))
        return None

    register(names, "test-mask", mask_acme)
    outcome = run_input("test-mask", action="redact")
    assert outcome.action == "pass"
    assert outcome.request.messages is not None
    assert [m.content for m in outcome.request.messages] == ["be nice", "tell me about [CO]"]


def test_redact_without_a_text_blocks(names: list[str]) -> None:
    register(names, "test-no-text", lambda text: True)
    outcome = run_input("test-no-text", action="redact")
    assert outcome.blocked and "returned no text" in outcome.decisions[0].reason


def test_async_functions_are_awaited(names: list[str]) -> None:
    async def slow_check(text: str, stage: str) -> GuardrailResult:
        await asyncio.sleep(0)
        return GuardrailResult("Corp" in text, "async says no")

    register(names, "test-async", slow_check)
    outcome = run_input("test-async")
    assert outcome.blocked and outcome.decisions[0].reason == "async says no"

    async def broken(text: str) -> bool:
        raise ValueError(text)

    register(names, "test-async-broken", broken)
    assert run_input("test-async-broken").decisions[0].reason == (
        "custom check test-async-broken raised ValueError"
    )


def test_a_sync_function_returning_an_awaitable_is_an_error(names: list[str]) -> None:
    async def inner() -> bool:
        return True

    register(names, "test-sneaky", lambda text: inner())
    decision = run_output("test-sneaky", "x").decisions[0]
    assert decision.error and "declare it async def" in decision.reason


def test_functions_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "mloop_test_guards.py"
    module.write_text(
        textwrap.dedent(
            """
            class Rules:
                @staticmethod
                def no_refunds(text):
                    return "refund" in text

            def shouting(text, stage):
                return text.isupper()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mloop_test_guards", raising=False)
    out = run_output("mloop_test_guards:Rules.no_refunds", "no refund, sorry")
    assert out.blocked
    assert run_output("mloop_test_guards:shouting", "CALM DOWN").blocked
    assert not run_output("mloop_test_guards:shouting", "calm").blocked


@pytest.mark.parametrize(
    ("function", "words"),
    [
        ("mloop_no_such_module:fn", "cannot import 'mloop_no_such_module'"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("json:__doc__", "is not callable"),
        ("json:dumps.__name__", "is not callable"),
    ],
)
def test_bad_import_paths_are_refused_at_load(function: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as info:
        run_output(function, "x")
    assert "output[0].function" in str(info.value)


def test_unknown_names_suggest_a_registered_one(names: list[str]) -> None:
    register(names, "test-profanity", lambda text: False)
    with pytest.raises(ValidationError) as info:
        run_output("test-profanty", "x")
    assert "did you mean 'test-profanity'" in str(info.value)
    assert "@guardrail" in str(info.value)


def test_registration_rules(names: list[str]) -> None:
    def first(text: str) -> bool:
        return False

    def second(text: str) -> bool:
        return True

    register(names, "test-dup", first)
    guardrail("test-dup")(first)  # the same function again (a reload) is fine
    with pytest.raises(ValueError, match="already registered"):
        guardrail("test-dup")(second)
    with pytest.raises(ValueError, match="guardrail name"):
        guardrail("bad name!")
    with pytest.raises(TypeError, match="accept"):
        guardrail("test-arity")(lambda: True)
    with pytest.raises(TypeError, match="accept"):
        guardrail("test-arity")(lambda a, b, c: True)
    assert "test-arity" not in registered_guardrails()


def test_custom_options_are_checked(names: list[str]) -> None:
    register(names, "test-opts", lambda text: False)
    with pytest.raises(ValidationError, match=r"input\[0\]\.threshold: unknown option"):
        run_input("test-opts", threshold=3)
    with pytest.raises(ValidationError, match="function: is required"):
        GuardrailPipeline.from_config({"input": [{"check": "custom"}]})


def test_hostile_texts_reach_the_function_as_strings(names: list[str]) -> None:
    seen: list[Any] = []

    def record_type(text: Any) -> None:
        seen.append(type(text))

    register(names, "test-types", record_type)
    req = ChatRequest(
        model="m",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": {"$gt": ""}}]},
            {"role": "user", "content": [{"type": "text", "text": ["a", 1, None]}]},
            {"role": "user", "content": "\x00" * 10_000},
        ],
    )
    pipeline = GuardrailPipeline.from_config(
        {"input": [{"check": "custom", "function": "test-types"}]}
    )
    assert asyncio.run(pipeline.check_input(req)).action == "pass"
    assert seen == [str, str, str]
