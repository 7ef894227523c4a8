"""The ``injection`` check: heuristics for prompt-injection and jailbreak attempts.

These are heuristics. They catch the common, literal forms of attack and have both false
positives (a user who quotes an attack, a support question about "the system prompt") and false
negatives (paraphrases, other languages, instructions hidden in images or split across
messages). Use them with ``warn`` to learn your traffic before you ``block``, and pair them with
a ``classifier`` check for a second opinion.

Each pattern has a score; the scores of the distinct patterns found in one text add up, and the
check fires when a text reaches ``threshold`` (default 0.8). Before matching, a text is
normalised: unicode tag characters (invisible "ASCII smuggling") are decoded and scanned too,
zero-width and other format characters are removed, NFKC folds full-width and styled letters,
common Cyrillic and Greek look-alikes become Latin letters, and case is folded. Base64 runs of 20
or more characters are decoded and the decoded text scanned again.

Options: ``threshold`` (default 0.8), ``decode_base64`` (default true), ``disabled`` (pattern
names to leave out), ``extra_patterns`` (``[{name, pattern, score}]``, regular expressions
matched against the normalised, lower-case text, checked and time-limited like the ``regex``
check's patterns; a pattern that runs out of time makes the check fire with an error).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mloop.llm.guardrails.base import (
    PASSED,
    Check,
    CheckContext,
    CheckResult,
    OptionError,
    Options,
    Stage,
)
from mloop.llm.guardrails.config import Action
from mloop.llm.guardrails.lists import SafePattern


@dataclass(frozen=True)
class InjectionPattern:
    """A named, scored regular expression over normalised lower-case text (the built-in ones
    are ``re`` patterns written to scan in linear time; extra ones are ``SafePattern``s, matched
    under a time limit)."""

    name: str
    score: float
    regex: re.Pattern[str] | SafePattern

    def search(self, text: str) -> bool:
        if isinstance(self.regex, SafePattern):
            return self.regex.search(text)
        return self.regex.search(text) is not None


_FILLER = r"(?:[\w'-]+\s+){0,3}?"

PATTERNS: tuple[InjectionPattern, ...] = (
    InjectionPattern(
        "ignore_instructions",
        1.0,
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\s+"
            + _FILLER
            + r"(?:previous|prior"
            r"|above|earlier|preceding|all|any|every|your|system|developer|initial|original)"
            r"\s+" + _FILLER + r"(?:instructions?|prompts?|rules|directions|directives"
            r"|guidelines|guardrails|constraints|restrictions|policies)\b"
        ),
    ),
    InjectionPattern(
        "role_play_jailbreak",
        1.0,
        re.compile(
            r"\b(?:do\s+anything\s+now|dan\s+mode|developer\s+mode\s+(?:enabled|on|output)"
            r"|jailbreak(?:en)?\s+mode|you\s+are\s+(?:now\s+)?(?:dan|jailbroken|unrestricted"
            r"|unfiltered|uncensored)\b|(?:pretend|act|behave)\s+(?:to\s+be|as|like)\s+"
            + _FILLER
            + r"(?:with\s+no|without\s+(?:any\s+)?)\s*(?:restrictions|rules|limits|filters"
            r"|guidelines|morals|ethics)|(?:act|behave)\s+as\s+(?:an?\s+)?(?:unrestricted"
            r"|unfiltered|uncensored|jailbroken|evil)\b)"
        ),
    ),
    InjectionPattern(
        "system_prompt_exfiltration",
        0.9,
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|disclose"
            r"|write\s+out|what\s+(?:is|are|was|were))\s+" + _FILLER + r"(?:system|initial"
            r"|original|hidden|secret|developer)\s+(?:prompt|instructions|message|rules)\b"
            r"|\brepeat\s+(?:everything|all(?:\s+the\s+text)?|the\s+(?:text|words))\s+"
            r"(?:above|before)\b"
        ),
    ),
    InjectionPattern(
        "chat_template_tokens",
        0.9,
        re.compile(
            r"<\|im_start\|>|<\|im_end\|>|<\|(?:system|assistant|user)\|>|<\|start_header_id\|>"
            r"|<\|eot_id\|>|\[/?inst\]|<</?sys>>"
        ),
    ),
    InjectionPattern(
        "fake_role_header",
        0.6,
        re.compile(
            r"^[ \t]*(?:#{1,6}|[-=*]{3,})?[ \t]*\[?(?:system|assistant|developer)"
            r"(?:[ \t]+(?:message|prompt|instructions?))?\]?[ \t]*:?[ \t]*$"
            r"|^[ \t]*(?:system|developer)[ \t]*:",
            re.MULTILINE,
        ),
    ),
    InjectionPattern(
        "new_instructions",
        0.5,
        re.compile(
            r"\b(?:new|updated|real|actual|revised)\s+(?:system\s+)?instructions?\s*:"
            r"|\bfrom\s+now\s+on\b,?\s+you\s+(?:will|must|are)\b"
        ),
    ),
    InjectionPattern("you_are_now", 0.4, re.compile(r"\byou\s+are\s+now\b")),
    InjectionPattern(
        "system_prompt_mention", 0.3, re.compile(r"\bsystem\s+(?:prompt|instructions)\b")
    ),
)
"""The built-in patterns, matched against normalised lower-case text."""

SIGNAL_SCORES: dict[str, float] = {
    "invisible_characters": 0.3,
    "hidden_tag_characters": 0.8,
    "encoded_instructions": 0.3,
}
"""Scores of findings that are not patterns: zero-width characters inside words, unicode tag
characters, and patterns found in base64-decoded text."""

# Look-alike letters NFKC leaves alone, mapped to the Latin letter they imitate.
_CONFUSABLES = str.maketrans(
    {
        chr(code): latin
        for code, latin in {
            0x0430: "a", 0x0435: "e", 0x043E: "o", 0x0440: "p", 0x0441: "c", 0x0443: "y",
            0x0445: "x", 0x0456: "i", 0x0458: "j", 0x0455: "s", 0x0501: "d", 0x051B: "q",
            0x051D: "w", 0x04BB: "h", 0x04CF: "l", 0x043A: "k", 0x043C: "m", 0x043D: "h",
            0x0442: "t", 0x0432: "b", 0x0410: "a", 0x0415: "e", 0x041E: "o", 0x0420: "p",
            0x0421: "c", 0x0425: "x", 0x0406: "i", 0x0408: "j", 0x0405: "s", 0x041A: "k",
            0x041C: "m", 0x041D: "h", 0x0422: "t", 0x0412: "b", 0x03B1: "a", 0x03BF: "o",
            0x03B5: "e", 0x03B9: "i", 0x03BA: "k", 0x03BD: "v", 0x03C1: "p", 0x03C4: "t",
            0x03C5: "u", 0x03C7: "x", 0x0391: "a", 0x0392: "b", 0x0395: "e", 0x0397: "h",
            0x0399: "i", 0x039A: "k", 0x039C: "m", 0x039D: "n", 0x039F: "o", 0x03A1: "p",
            0x03A4: "t", 0x03A7: "x", 0x03A5: "y", 0x0396: "z",
        }.items()
    }
)  # fmt: skip

_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])")
_MAX_BASE64_CANDIDATES = 16
_MAX_BASE64_CHARS = 200_000


_TAGS = re.compile("[\U000e0000-\U000e007f]+")


@functools.cache
def _format_runs() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Patterns for runs of format characters (Unicode category Cf: zero-width spaces and
    joiners, direction marks, soft hyphens...) anywhere, and between two word characters.
    Built on first use: finding them takes a pass over every code point."""
    codes = [
        cp
        for cp in range(0x80, sys.maxunicode + 1)
        if not _TAG_FIRST <= cp <= _TAG_LAST and unicodedata.category(chr(cp)) == "Cf"
    ]
    ranges: list[tuple[int, int]] = []
    for cp in codes:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    klass = (
        "["
        + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
        + "]+"
    )
    return re.compile(klass), re.compile(r"(?<=[^\W_])" + klass + r"(?=[^\W_])")


def _split_hidden(text: str) -> tuple[str, str, int]:
    """(text without tag and format characters, the ASCII the tag characters spell,
    the number of runs of format characters that sat inside a word)."""
    if text.isascii():
        return text, "", 0
    hidden = ""
    if _TAGS.search(text):
        tags = "".join(_TAGS.findall(text))
        hidden = "".join(
            chr(ord(ch) - _TAG_FIRST) for ch in tags if 0x20 <= ord(ch) - _TAG_FIRST <= 0x7E
        )
        text = _TAGS.sub("", text)
    anywhere, inside = _format_runs()
    if not anywhere.search(text):
        return text, hidden, 0
    inside_word = sum(1 for _ in inside.finditer(text))
    return anywhere.sub("", text), hidden, inside_word


def normalise(text: str) -> str:
    """The form the patterns are matched against: format and tag characters removed,
    NFKC, look-alikes mapped to Latin letters, case folded."""
    visible, _, _ = _split_hidden(text)
    return _fold(visible)


def _fold(visible: str) -> str:
    if not visible.isascii():
        visible = unicodedata.normalize("NFKC", visible).translate(_CONFUSABLES)
    return visible.casefold()


def _decode_base64(candidate: str) -> str | None:
    """The text a base64 run decodes to, when it is mostly printable UTF-8."""
    padded = candidate.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        if "-" in padded or "_" in padded:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not decoded:
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
    return decoded if printable >= 0.9 * len(decoded) else None


class InjectionCheck(Check):
    """Scores each text for prompt-injection patterns and fires at ``threshold``."""

    name: ClassVar[str] = "injection"
    # System and developer messages come from the operator and often talk about "the system
    # prompt"; assistant turns are read because a client can forge them.
    default_roles: ClassVar[tuple[str, ...] | None] = ("user", "assistant", "tool", "function")

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        self.threshold = opts.number("threshold", 0.8, minimum=0.01, maximum=100)
        self.decode_base64 = opts.boolean("decode_base64", True)
        known = [p.name for p in PATTERNS] + list(SIGNAL_SCORES)
        disabled = set(opts.string_list("disabled"))
        unknown = sorted(disabled - set(known))
        if unknown:
            raise OptionError(
                "disabled", f"unknown pattern(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        self.disabled = frozenset(disabled)
        self.patterns = [p for p in PATTERNS if p.name not in disabled]
        self.patterns.extend(self._extra(opts.get("extra_patterns"), set(known)))
        opts.finish()
        _format_runs()  # built now (about 0.2 s, once) rather than on the first request

    @staticmethod
    def _extra(value: Any, taken: set[str]) -> list[InjectionPattern]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > 200:
            raise OptionError(
                "extra_patterns", "must be a list of at most 200 {name, pattern, score}"
            )
        extra: list[InjectionPattern] = []
        for i, item in enumerate(value):
            where = f"extra_patterns[{i}]"
            if not isinstance(item, dict) or set(item) - {"name", "pattern", "score"}:
                raise OptionError(where, "must be a mapping with name, pattern and score")
            name, pattern, score = item.get("name"), item.get("pattern"), item.get("score", 1.0)
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,64}", name):
                raise OptionError(f"{where}.name", "must be 1 to 64 of a-z, 0-9 and _")
            if name in taken:
                raise OptionError(f"{where}.name", f"{name!r} is already a pattern name")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or score <= 0:
                raise OptionError(f"{where}.score", "must be a number above 0")
            if not isinstance(pattern, str):
                raise OptionError(f"{where}.pattern", "must be a string")
            try:
                regex = SafePattern(name, pattern, re.IGNORECASE | re.MULTILINE)
            except ValueError as exc:
                raise OptionError(f"{where}.pattern", str(exc)) from None
            taken.add(name)
            extra.append(InjectionPattern(name, float(score), regex))
        return extra

    def score(self, text: str) -> tuple[float, list[str]]:
        """The score of ``text`` and the names of what was found, highest score first."""
        visible, hidden, inside_word = _split_hidden(text)
        folded = _fold(visible)
        found = self._match(folded)
        if hidden:
            found["hidden_tag_characters"] = SIGNAL_SCORES["hidden_tag_characters"]
            found.update(self._match(_fold(hidden)))
        if inside_word:
            found["invisible_characters"] = SIGNAL_SCORES["invisible_characters"]
        if self.decode_base64:
            decoded_found = self._scan_base64(visible)
            if decoded_found:
                found["encoded_instructions"] = SIGNAL_SCORES["encoded_instructions"]
                for name, score in decoded_found.items():
                    found.setdefault(name, score)
        for name in self.disabled:
            found.pop(name, None)
        names = sorted(found, key=lambda n: (-found[n], n))
        return round(sum(found.values()), 3), names

    def _match(self, folded: str) -> dict[str, float]:
        return {p.name: p.score for p in self.patterns if p.search(folded)}

    def _scan_base64(self, visible: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for n, m in enumerate(_BASE64.finditer(visible)):
            if n >= _MAX_BASE64_CANDIDATES:
                break
            candidate = m.group()
            if len(candidate) > _MAX_BASE64_CHARS:
                continue
            decoded = _decode_base64(candidate)
            if decoded is not None:
                found.update(self._match(_fold(_split_hidden(decoded)[0])))
        return found

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        best_score = 0.0
        best_names: list[str] = []
        flagged = 0
        for text in texts:
            score, names = self.score(text)
            if score >= self.threshold:
                flagged += 1
            if score > best_score:
                best_score, best_names = score, names
        if not flagged:
            if best_score:
                return CheckResult(False, details={"score": best_score, "patterns": best_names})
            return PASSED
        return CheckResult(
            True,
            f"prompt injection suspected: score {best_score:g} ({', '.join(best_names)})",
            {
                "score": best_score,
                "threshold": self.threshold,
                "patterns": best_names,
                "texts": flagged,
            },
        )
