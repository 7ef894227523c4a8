"""Which rules apply to an evaluation, and whether a value breaches one. Pure functions.

Patterns are shell-style globs matched case-sensitively over the whole name (``*`` any text,
dots included; ``?`` one character; ``[abc]`` one of them): ``drift.column.*.score`` matches
``drift.column.age.score``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from mloop.alerts.schemas import Operator, RuleSpec

_COMPARE = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def matches(pattern: str, name: str) -> bool:
    """Whether the glob ``pattern`` matches all of ``name`` (case-sensitive)."""
    return fnmatch.fnmatchcase(name, pattern)


def subject_matches(wanted: Mapping[str, str], subject: Mapping[str, str]) -> bool:
    """Every key of ``wanted`` is in ``subject`` with a value its glob matches."""
    return all(key in subject and matches(glob, subject[key]) for key, glob in wanted.items())


def subject_key(subject: Mapping[str, str]) -> str:
    """A fixed-length key of a subject: sha256 of its canonical JSON."""
    canonical = json.dumps(dict(subject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def compare(operator: Operator, value: float, threshold: float) -> bool:
    return bool(_COMPARE[operator](value, threshold))


@dataclass(frozen=True)
class Check:
    """A rule applied to one metric's value in one window.

    ``breached`` is None when the window says nothing (no value, or a change rule without a
    reference): such a window neither extends nor breaks a streak, and resolves nothing.
    """

    breached: bool | None
    value: float | None
    reference: float | None
    observed: float | None  # what was compared: the value, or the relative change
    message: str


def relative_change(value: float, reference: float) -> float:
    """``(value - reference) / |reference|``; from a reference of 0, any rise is +inf and
    any fall -inf."""
    if reference == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - reference) / abs(reference)


def _number(value: float) -> str:
    if math.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    return f"{value:.6g}"


def _percent(change: float) -> str:
    if math.isinf(change):
        return "from 0"
    return f"{change * 100:+.1f}%"


def check(rule: RuleSpec, metric: str, value: float | None, reference: float | None) -> Check:
    """Apply ``rule`` to ``metric``'s ``value`` (and its ``reference`` for a change rule)."""
    if value is None or math.isnan(value):
        return Check(None, None, reference, None, f"{metric} has no value in this window")
    if rule.kind == "threshold":
        breached = compare(rule.operator, value, rule.threshold)
        verb = "breaches" if breached else "is within"
        return Check(
            breached,
            value,
            reference,
            value,
            f"{metric} = {_number(value)} {verb} {rule.operator} {_number(rule.threshold)}",
        )
    if reference is None or math.isnan(reference):
        return Check(None, value, None, None, f"{metric} has no reference value to compare with")
    change = relative_change(value, reference)
    breached = compare(rule.operator, change, rule.threshold)
    return Check(
        breached,
        value,
        reference,
        change,
        f"{metric} = {_number(value)} against reference {_number(reference)}: "
        f"{_percent(change)} ({'breaches' if breached else 'within'} change "
        f"{rule.operator} {rule.threshold * 100:+.1f}%)",
    )
