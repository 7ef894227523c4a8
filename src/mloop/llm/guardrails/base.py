"""The interface every guardrail check implements, and the record of what it decided.

A check is built once per pipeline entry from the entry's options (``Check.__init__``
validates them and raises ``OptionError`` naming the option at fault). At request time the
pipeline hands it the texts of one stage (the request's message texts, or the answer) and gets
a ``CheckResult`` back; the pipeline turns that into a ``Decision``, the record stored with the
call.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from mloop.llm.guardrails.config import Action
from mloop.llm.types import ChatRequest

Stage = Literal["input", "output"]

ALL_ACTIONS: frozenset[str] = frozenset({"block", "redact", "warn", "reask", "fallback"})
OUTPUT_ONLY_ACTIONS: frozenset[str] = frozenset({"reask", "fallback"})

ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool", "function")

_MAX_REASON_CHARS = 300
_MAX_DETAILS_CHARS = 8_000
# A re-ask message is cut to this many bytes: a budget's estimate counts on it.
REASK_MESSAGE_BYTES = 4_096


class OptionError(ValueError):
    """An entry's option is missing or invalid; the pipeline adds where the entry is."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


class CheckFailed(RuntimeError):
    """A check could not decide (a text it cannot scan, a classifier that failed).

    The pipeline records an error decision and applies the entry's action: errors fail
    closed, and an entry that redacts blocks instead because the text was not scanned.
    """


@dataclass(frozen=True)
class CheckContext:
    """What a check may read besides its texts: the stage, the (possibly already redacted)
    request, and at the output stage how many re-asks the gateway has made for this answer."""

    stage: Stage
    request: ChatRequest
    reasks_done: int = 0


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    ``reason`` is short and never contains the matched values themselves (``"2 email"``).
    ``details`` must be JSON-safe. ``redacted`` holds one replacement text per input text
    when the check redacted (only read for entries with action ``redact``).
    ``reask_message`` tells the model what was wrong (action ``reask``).
    """

    triggered: bool
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    redacted: tuple[str, ...] | None = None
    reask_message: str | None = None


PASSED = CheckResult(False)


@dataclass(frozen=True)
class Decision:
    """One check's decision on one stage of one call, as stored in the call log.

    ``action`` is the action the entry applies when it fires (after escalation: a re-ask with
    no re-asks left becomes its ``reask_exhausted`` action); it took effect only when
    ``triggered`` is true. ``error`` marks a check that failed and was treated as fired.
    """

    stage: Stage
    check: str
    name: str
    action: Action
    triggered: bool
    reason: str
    details: Mapping[str, Any]
    duration_ms: float
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for the call log."""
        return {
            "stage": self.stage,
            "check": self.check,
            "name": self.name,
            "action": self.action,
            "triggered": self.triggered,
            "reason": self.reason,
            "details": dict(self.details),
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


def short_reason(text: str) -> str:
    """A reason cut to a length that fits a log line."""
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


def json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` as plain JSON types (unknown objects become their ``str``), bounded in size."""
    try:
        text = json.dumps(dict(details), default=str, allow_nan=False)
    except (TypeError, ValueError):
        return {"unserializable": True}
    if len(text) > _MAX_DETAILS_CHARS:
        return {"truncated": True, "size": len(text)}
    result: dict[str, Any] = json.loads(text)
    return result


def count_reason(counts: Mapping[str, int]) -> str:
    """``{"email": 2, "payment_card": 1}`` as ``"2 email, 1 payment_card"``."""
    return ", ".join(f"{n} {label}" for label, n in counts.items())


class Check(ABC):
    """A guardrail check. Subclasses set ``name`` and implement ``evaluate`` (pure CPU,
    synchronous) or, for checks that call out, set ``is_async`` and implement ``aevaluate``.

    ``texts`` are the texts of the stage in order: at the input stage the text of every
    message (or text content part) the entry reads, at the output stage the answer alone.
    """

    name: ClassVar[str]
    stages: ClassVar[frozenset[Stage]] = frozenset({"input", "output"})
    actions: ClassVar[frozenset[str]] = ALL_ACTIONS - {"redact"}
    default_roles: ClassVar[tuple[str, ...] | None] = None
    # Set by checks that must be awaited (the classifier; async custom functions).
    is_async: bool = False

    def __init__(self, options: Mapping[str, Any], *, stage: Stage, action: Action) -> None:
        self.stage = stage
        self.action = action
        # The message roles the entry reads at the input stage (set by the pipeline from the
        # entry's ``roles`` or the check's ``default_roles``).
        self.roles: frozenset[str] = frozenset(self.default_roles or ROLES)

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        """Decide on ``texts``. Raise ``CheckFailed`` when no decision is possible.
        Asynchronous checks (the classifier) override only :meth:`aevaluate`."""
        raise TypeError(f"check {self.name} is asynchronous: call aevaluate")

    async def aevaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        """The asynchronous form; synchronous checks need not override it."""
        return self.evaluate(texts, ctx)


class TextCheck(Check):
    """A check that looks at each text on its own (PII, block lists, injection): it finds
    labelled spans or labels in a text and, for action ``redact``, replaces them."""

    @abstractmethod
    def scan(self, text: str) -> dict[str, int]:
        """Labels found in ``text`` with their counts (empty: nothing found)."""

    def replace(self, text: str) -> str:
        """``text`` with what ``scan`` finds replaced (checks that support ``redact``)."""
        raise TypeError(f"check {self.name} cannot redact")

    def describe(self, counts: Mapping[str, int]) -> str:
        """The reason for a result with these label counts."""
        return count_reason(counts)

    def evaluate(self, texts: Sequence[str], ctx: CheckContext) -> CheckResult:
        totals: dict[str, int] = {}
        hits: list[int] = []
        for i, text in enumerate(texts):
            found = self.scan(text)
            if found:
                hits.append(i)
                for label, n in found.items():
                    totals[label] = totals.get(label, 0) + n
        if not hits:
            return PASSED
        redacted: tuple[str, ...] | None = None
        if self.action == "redact":
            replaced = list(texts)
            for i in hits:
                replaced[i] = self.replace(texts[i])
            redacted = tuple(replaced)
        return CheckResult(
            True,
            self.describe(totals),
            {"counts": totals, "texts": len(hits)},
            redacted=redacted,
        )


class Options:
    """Reads a check's options with type checks; every error names the option."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = dict(options)
        self._read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._options.get(key, default)

    def has(self, key: str) -> bool:
        return key in self._options

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.get(key, default)
        if value is None and required:
            raise OptionError(key, "is required")
        if not isinstance(value, str) or not value:
            raise OptionError(key, f"must be a non-empty string, got {_kind(value)}")
        return value

    def number(
        self, key: str, default: float, *, minimum: float = 0, maximum: float | None = None
    ) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(key, f"must be a number, got {_kind(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:g}" if maximum is not None else ""
            raise OptionError(key, f"must be at least {minimum:g}{upper}, got {value!r}")
        return float(value)

    def integer(
        self, key: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
    ) -> int | None:
        value = self.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(key, f"must be an integer, got {_kind(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:,}" if maximum is not None else ""
            raise OptionError(key, f"must be at least {minimum:,}{upper}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise OptionError(key, f"must be true or false, got {_kind(value)}")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise OptionError(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def string_list(
        self, key: str, *, required: bool = False, max_items: int = 10_000, max_chars: int = 1_000
    ) -> list[str]:
        value = self.get(key)
        if value is None:
            if required:
                raise OptionError(key, "is required: give a list of strings")
            return []
        if isinstance(value, str) or not isinstance(value, list):
            raise OptionError(key, f"must be a list of strings, got {_kind(value)}")
        if len(value) > max_items:
            raise OptionError(key, f"has {len(value):,} items; at most {max_items:,}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise OptionError(f"{key}[{i}]", f"must be a non-empty string, got {_kind(item)}")
            if len(item) > max_chars:
                raise OptionError(
                    f"{key}[{i}]", f"is {len(item):,} characters; at most {max_chars:,}"
                )
        return list(value)

    def finish(self) -> None:
        """Raise for options the check did not read (a typo, or an option of another check)."""
        unknown = sorted(set(self._options) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise OptionError(unknown[0], f"unknown option (this check's options: {known})")


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return type(value).__name__
