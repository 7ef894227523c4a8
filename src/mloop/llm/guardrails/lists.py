"""The ``blocklist`` and ``regex`` checks, and the guard that keeps user regexes safe.

``blocklist`` finds words and phrases as whole words, case-insensitively by default (``words``,
``case_sensitive``, ``replacement`` for action ``redact``). Phrases match across any run of
white space. The terms are compiled into one trie-shaped expression, so a list of thousands of
terms costs about as much per character as a short one.

``regex`` finds regular expressions (``patterns``: strings or ``{name, pattern}``;
``ignore_case``; ``replacement``; ``max_scan_chars``; ``timeout_ms``). User patterns are guarded
three ways:

* when the pipeline is built (``compile_safe``): at most 1,000 characters, no backreferences,
  and no repetition of something that itself repeats or branches (``(a+)+``, ``(a|aa)*``), the
  shapes that backtrack exponentially;
* texts longer than ``max_scan_chars`` (default 100,000) are not scanned;
* each match runs under a time limit (``timeout_ms``, default 100) with the ``regex`` package
  (the ``llm`` extra), because even accepted patterns can take quadratic time (``(?:ab)+c``
  against ``abab...ab``). Without that package patterns run on ``re`` with no time limit.

A text that is not scanned, or a scan that runs out of time, makes the check fire with an error
decision (fail closed).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from mloop.llm.guardrails.base import (
    ALL_ACTIONS,
    CheckFailed,
    OptionError,
    Options,
    Stage,
    TextCheck,
)
from mloop.llm.guardrails.config import Action

MAX_PATTERN_CHARS = 1_000
MAX_PATTERNS = 200
DEFAULT_MAX_SCAN_CHARS = 100_000

# The regex parser of the standard library (private but stable since 3.11): compile_safe walks
# the parsed pattern to find exponential shapes before anything is matched.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")
_REPEATS = {_constants.MAX_REPEAT, _constants.MIN_REPEAT}
if hasattr(_constants, "POSSESSIVE_REPEAT"):
    _REPEATS.add(_constants.POSSESSIVE_REPEAT)
_BACKREFS = {_constants.GROUPREF, _constants.GROUPREF_EXISTS, _constants.GROUPREF_IGNORE}
_UNBOUNDED = _constants.MAXREPEAT


def _unsafe_shape(items: Any, in_repeat: bool, in_unbounded: bool) -> str | None:
    """Why the parsed pattern ``items`` may backtrack exponentially, or None."""
    for op, av in items:
        if op in _BACKREFS:
            return "backreferences are not allowed"
        if op in _REPEATS:
            low, high, sub = av
            varies = low != high
            if in_repeat and varies:
                return "a repetition inside a repetition (like (a+)+) is not allowed"
            repeats = high > 1
            found = _unsafe_shape(
                sub, in_repeat or repeats, in_unbounded or (repeats and high == _UNBOUNDED)
            )
            if found:
                return found
        elif op == _constants.BRANCH:
            if in_unbounded:
                return (
                    "alternatives inside an unbounded repetition (like (a|ab)*) are not "
                    "allowed; use a character class or move the alternatives out"
                )
            for branch in av[1]:
                found = _unsafe_shape(branch, in_repeat, in_unbounded)
                if found:
                    return found
        elif op == _constants.SUBPATTERN:
            found = _unsafe_shape(av[3], in_repeat, in_unbounded)
            if found:
                return found
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            found = _unsafe_shape(av[1], in_repeat, in_unbounded)
            if found:
                return found
        elif op == getattr(_constants, "ATOMIC_GROUP", None):
            found = _unsafe_shape(av, in_repeat, in_unbounded)
            if found:
                return found
    return None


def compile_safe(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a user-supplied pattern after checking it cannot backtrack exponentially.

    Raises ``ValueError`` saying what is wrong. Patterns that pass can still be slow
    (quadratic) on long texts, which is why the checks also cap the text they scan.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("must be a non-empty string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"is {len(pattern):,} characters; at most {MAX_PATTERN_CHARS:,}")
    try:
        compiled = re.compile(pattern, flags)
        parsed = _parser.parse(pattern, flags)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    problem = _unsafe_shape(parsed, False, False)
    if problem:
        raise ValueError(f"{pattern[:60]!r}: {problem}")
    return compiled


def _engine() -> Any:
    """The ``regex`` package when installed (it supports a time limit), else None."""
    try:
        return importlib.import_module("regex")
    except ImportError:
        return None


class SafePattern:
    """A user pattern that passed ``compile_safe``, matched under a time limit when the
    ``regex`` package is installed. Running out of time raises ``CheckFailed``."""

    def __init__(self, name: str, pattern: str, flags: int = 0, timeout_ms: int = 100) -> None:
        self.name = name
        self.compiled: re.Pattern[str] = compile_safe(pattern, flags)
        self.timeout_s = timeout_ms / 1000
        engine = _engine()
        self._timed: Any = None
        if engine is not None:
            # the flag values of re and regex differ in type but share their bits
            timed_flags = 0
            for ours, theirs in (
                (re.IGNORECASE, engine.IGNORECASE),
                (re.MULTILINE, engine.MULTILINE),
                (re.DOTALL, engine.DOTALL),
                (re.VERBOSE, engine.VERBOSE),
                (re.ASCII, engine.ASCII),
            ):
                if flags & ours:
                    timed_flags |= theirs
            self._timed = engine.compile(pattern, timed_flags)

    def _timeout(self, text: str) -> CheckFailed:
        return CheckFailed(
            f"pattern {self.name} ran out of time ({self.timeout_s * 1000:g} ms) on a text of "
            f"{len(text):,} characters"
        )

    def count(self, text: str) -> int:
        """How many times the pattern matches ``text``."""
        if self._timed is None:
            return sum(1 for _ in self.compiled.finditer(text))
        try:
            return sum(1 for _ in self._timed.finditer(text, timeout=self.timeout_s))
        except TimeoutError:
            raise self._timeout(text) from None

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text``."""
        if self._timed is None:
            return self.compiled.search(text) is not None
        try:
            return self._timed.search(text, timeout=self.timeout_s) is not None
        except TimeoutError:
            raise self._timeout(text) from None

    def sub(self, replacement: str, text: str) -> str:
        """``text`` with every match replaced by ``replacement`` (taken literally)."""
        if self._timed is None:
            return self.compiled.sub(lambda _: replacement, text)
        try:
            result: str = self._timed.sub(lambda _: replacement, text, timeout=self.timeout_s)
        except TimeoutError:
            raise self._timeout(text) from None
        return result


def _trie_regex(terms: list[str]) -> str:
    """One expression matching any of ``terms``, shaped as a trie so that matching does not
    try every term at every position. White space in a term matches any run of it."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for ch in " ".join(term.split()):
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [
            (r"\s+" if ch == " " else re.escape(ch)) + build(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return build(trie)


class BlocklistCheck(TextCheck):
    """Fires when a text contains one of ``words`` as a whole word or phrase."""

    name: ClassVar[str] = "blocklist"
    actions: ClassVar[frozenset[str]] = ALL_ACTIONS

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        # compiling the trie takes about a second per 10,000 terms, once, at load
        words = opts.string_list("words", required=True, max_items=10_000, max_chars=200)
        if not words:
            raise OptionError("words", "is empty: give at least one word or phrase")
        self.case_sensitive = opts.boolean("case_sensitive", False)
        self.replacement = opts.string("replacement", "[REDACTED]")
        opts.finish()
        terms = sorted({w if self.case_sensitive else w.casefold() for w in words})
        flags = 0 if self.case_sensitive else re.IGNORECASE
        self._regex = re.compile(r"(?<!\w)" + _trie_regex(terms) + r"(?!\w)", flags)

    def scan(self, text: str) -> dict[str, int]:
        n = sum(1 for _ in self._regex.finditer(text))
        return {"blocked term": n} if n else {}

    def describe(self, counts: Mapping[str, int]) -> str:
        n = counts.get("blocked term", 0)
        return f"{n} blocked term{'s' if n != 1 else ''}"

    def replace(self, text: str) -> str:
        return self._regex.sub(lambda _: self.replacement, text)


class RegexCheck(TextCheck):
    """Fires when a text matches one of ``patterns``."""

    name: ClassVar[str] = "regex"
    actions: ClassVar[frozenset[str]] = ALL_ACTIONS

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        super().__init__(options, stage=stage, action=action)
        opts = Options(options)
        raw = opts.get("patterns")
        if not isinstance(raw, list) or not raw:
            raise OptionError("patterns", "is required: a non-empty list of patterns")
        if len(raw) > MAX_PATTERNS:
            raise OptionError("patterns", f"has {len(raw)} items; at most {MAX_PATTERNS}")
        flags = re.IGNORECASE if opts.boolean("ignore_case", False) else 0
        self.replacement = opts.string("replacement", "[REDACTED]")
        max_scan = opts.integer(
            "max_scan_chars", DEFAULT_MAX_SCAN_CHARS, minimum=1, maximum=16_000_000
        )
        self.max_scan_chars = max_scan if max_scan is not None else DEFAULT_MAX_SCAN_CHARS
        timeout_ms = opts.integer("timeout_ms", 100, minimum=1, maximum=10_000)
        opts.finish()
        self.patterns: list[SafePattern] = []
        for i, item in enumerate(raw):
            where = f"patterns[{i}]"
            name = f"pattern_{i}"
            if isinstance(item, dict):
                if set(item) - {"name", "pattern"}:
                    raise OptionError(where, "takes only name and pattern")
                name = item.get("name") or name
                if not isinstance(name, str) or len(name) > 64:
                    raise OptionError(f"{where}.name", "must be a string of at most 64 characters")
                item = item.get("pattern")
            try:
                self.patterns.append(SafePattern(name, item, flags, timeout_ms or 100))
            except ValueError as exc:
                raise OptionError(where, str(exc)) from None

    def _check_size(self, text: str) -> None:
        if len(text) > self.max_scan_chars:
            raise CheckFailed(
                f"text of {len(text):,} characters is over max_scan_chars "
                f"({self.max_scan_chars:,}) and was not scanned"
            )

    def scan(self, text: str) -> dict[str, int]:
        self._check_size(text)
        counts: dict[str, int] = {}
        for pattern in self.patterns:
            n = pattern.count(text)
            if n:
                counts[pattern.name] = n
        return counts

    def describe(self, counts: Mapping[str, int]) -> str:
        return "matched " + ", ".join(f"{name} ({n}x)" for name, n in counts.items())

    def replace(self, text: str) -> str:
        self._check_size(text)
        for pattern in self.patterns:
            text = pattern.sub(self.replacement, text)
        return text
