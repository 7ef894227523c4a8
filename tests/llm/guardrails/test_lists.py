"""Block lists and regex lists: whole-word matching, case rules, redaction, and the guards
against patterns and texts that would make the scan slow."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.guardrails import GuardrailPipeline, compile_safe
from mloop.llm.guardrails.base import CheckContext, CheckFailed
from mloop.llm.guardrails.lists import BlocklistCheck, RegexCheck
from mloop.llm.types import ChatRequest

CTX = CheckContext("output", ChatRequest(model="m", messages=[{"role": "user", "content": "q"}]))


def blocklist(action: Any = "block", **options: Any) -> BlocklistCheck:
    return BlocklistCheck(options, stage="output", action=action)


def regex(action: Any = "block", **options: Any) -> RegexCheck:
    return RegexCheck(options, stage="output", action=action)


# --- blocklist --------------------------------------------------------------------------------


def test_words_match_whole_words_only() -> None:
    check = blocklist(words=["class", "ass"])
    assert check.scan("this class is full") == {"blocked term": 1}
    assert check.scan("a classic, classy bass passage") == {}
    assert check.scan("class-based: class.") == {"blocked term": 2}


def test_matching_ignores_case_unless_asked() -> None:
    assert blocklist(words=["Acme Corp"]).scan("ask ACME CORP or acme corp") == {"blocked term": 2}
    strict = blocklist(words=["Acme Corp"], case_sensitive=True)
    assert strict.scan("ask ACME CORP or Acme Corp") == {"blocked term": 1}


def test_phrases_match_across_any_white_space() -> None:
    check = blocklist(words=["wire the  money"])
    assert check.scan("please wire\nthe \t money now") == {"blocked term": 1}
    assert check.scan("please wire themoney") == {}


def test_terms_with_regex_characters_are_literal() -> None:
    check = blocklist(words=["c++", "a.b", "(x)"])
    assert check.scan("I code c++ daily") == {"blocked term": 1}
    assert check.scan("axb and abc++") == {}
    assert check.scan("see a.b and (x)") == {"blocked term": 2}


def test_overlapping_terms_match_the_longest() -> None:
    check = blocklist("redact", words=["free", "free money", "money"], replacement="***")
    assert check.replace("get free money and free lunch") == "get *** and *** lunch"


def test_thousands_of_terms() -> None:
    words = [f"term{i:05d}" for i in range(9_999)] + ["needle phrase"]
    check = blocklist(words=words)
    assert check.scan("hay term01234 hay term09998 hay needle   phrase") == {"blocked term": 3}
    assert check.scan("term012345 and term09999 are not terms") == {}
    with pytest.raises(ValueError, match="at most 10,000"):
        blocklist(words=[*words, "one too many"])


def test_blocklist_redacts_and_reports_counts_only() -> None:
    pipeline = GuardrailPipeline.from_config(
        {"output": [{"check": "blocklist", "words": ["project falcon"], "action": "redact"}]}
    )
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "q"}])
    out = asyncio.run(pipeline.check_output(req, "Project Falcon ships; project falcon!"))
    assert out.text == "[REDACTED] ships; [REDACTED]!"
    assert out.decisions[0].reason == "2 blocked terms"
    assert "falcon" not in str(out.decisions[0].to_dict()).lower()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "required"),
        ({"words": []}, "empty"),
        ({"words": "spam"}, "list of strings"),
        ({"words": ["ok", 3]}, r"words\[1\]"),
        ({"words": ["  "]}, "non-empty"),
        ({"words": ["x" * 201]}, "at most 200"),
        ({"words": ["x"], "case_sensitive": "yes"}, "true or false"),
    ],
)
def test_bad_blocklist_options(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        blocklist(**options)


# --- regex ------------------------------------------------------------------------------------


def test_patterns_match_and_are_named_in_the_reason() -> None:
    check = regex(
        patterns=[{"name": "order_id", "pattern": r"\bORD-\d{6}\b"}, r"\binternal\b"],
    )
    result = check.evaluate(["ORD-123456 and ORD-654321 are internal"], CTX)
    assert result.triggered
    assert result.reason == "matched order_id (2x), pattern_1 (1x)"
    assert "ORD-123456" not in result.reason


def test_ignore_case_and_redaction() -> None:
    check = regex("redact", patterns=[r"secret-\w{4}"], ignore_case=True, replacement="<x>")
    result = check.evaluate(["SECRET-abcd and secret-WXYZ"], CTX)
    assert result.redacted == ("<x> and <x>",)
    assert not regex(patterns=[r"secret-\w{4}"]).evaluate(["SECRET-abcd"], CTX).triggered


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a+)+$", "inside a repetition"),
        (r"(\w+\s?)*$", "inside a repetition"),
        (r"(?:x*)*y", "inside a repetition"),
        (r"(a|aa)*b", "alternatives inside an unbounded repetition"),
        (r"(.*a){12}", "inside a repetition"),
        (r"(\w)\1", "backreferences"),
        (r"(?P<q>['\"]).*(?P=q)", "backreferences"),
        (r"(a)?(?(1)b|c)", "backreferences"),
        ("a" * 1_001, "at most 1,000"),
        (r"[unclosed", "not a valid regular expression"),
        ("", "non-empty"),
    ],
)
def test_dangerous_or_broken_patterns_are_refused(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        compile_safe(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\b\d{3}-\d{4}\b",
        r"(?:ab)+c",
        r"[a-z]+@[a-z]+\.com",
        r"(?:\d{3}-){2}\d{4}",
        r"(?:https?|ftp)://\S+",
        r"(?i)password\s*[:=]\s*\S+",
        r"(?<!\w)(?:foo|bar)(?!\w)",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert compile_safe(pattern).pattern == pattern


def test_a_pattern_refused_in_a_route_names_its_place() -> None:
    with pytest.raises(ValidationError) as info:
        GuardrailPipeline.from_config(
            {"output": [{"check": "regex", "patterns": ["ok", "(x+)+y"]}]}, route="r"
        )
    assert "routes.r.guardrails.output[0].patterns[1]" in str(info.value)


def test_texts_over_max_scan_chars_are_not_scanned_and_fire() -> None:
    check = regex(patterns=[r"\bsecret\b"], max_scan_chars=1_000)
    assert not check.evaluate(["x" * 1_000], CTX).triggered
    with pytest.raises(CheckFailed, match="max_scan_chars"):
        check.evaluate(["x" * 1_001], CTX)
    pipeline = GuardrailPipeline.from_config(
        {
            "output": [
                {"check": "regex", "patterns": [r"\bsecret\b"], "action": "redact"},
            ]
        }
    )
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "q"}])
    out = asyncio.run(pipeline.check_output(req, "y " * 60_000))
    assert out.action == "block"  # a redaction that could not scan fails closed
    assert out.decisions[0].error and "max_scan_chars" in out.decisions[0].reason


def test_hostile_text_against_accepted_patterns_finishes() -> None:
    check = regex(patterns=[r"[a-z]+@[a-z]+\.com", r"\d{3}-\d{4}"], max_scan_chars=200_000)
    assert not check.evaluate(["a@" * 40_000], CTX).triggered
    assert check.evaluate(["word " * 10_000 + "me@example.com"], CTX).triggered
    assert not check.evaluate(["x" * 200_000], CTX).triggered


def test_a_slow_scan_runs_out_of_time_and_fails_closed() -> None:
    # (?:ab)+c passes the shape check but takes quadratic time on "abab...ab!"
    hostile = "ab" * 100_000 + "!"
    check = regex(patterns=[r"(?:ab)+c"], timeout_ms=20, max_scan_chars=1_000_000)
    with pytest.raises(CheckFailed, match="ran out of time"):
        check.evaluate([hostile], CTX)
    pipeline = GuardrailPipeline.from_config(
        {
            "max_text_chars": 1_000_000,
            "output": [
                {
                    "check": "regex",
                    "patterns": [{"name": "abc", "pattern": r"(?:ab)+c"}],
                    "action": "warn",
                    "timeout_ms": 20,
                    "max_scan_chars": 1_000_000,
                }
            ],
        }
    )
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "q"}])
    out = asyncio.run(pipeline.check_output(req, hostile))
    [decision] = out.decisions
    assert decision.error and decision.triggered and "abc ran out of time" in decision.reason
    assert out.action == "pass"  # the entry only warns


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "required"),
        ({"patterns": []}, "required"),
        ({"patterns": [r"\d"] * 201}, "at most 200"),
        ({"patterns": [{"pattern": r"\d", "flags": "i"}]}, "only name and pattern"),
        ({"patterns": [3]}, "non-empty string"),
        ({"patterns": [r"\d"], "max_scan_chars": 0}, "at least 1"),
    ],
)
def test_bad_regex_options(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        regex(**options)
