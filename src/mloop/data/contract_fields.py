"""The value checks behind the contract model's field validators.

Each takes a value as written (in YAML or in code) and its key path, and returns the value
normalised or raises a ``ContractError`` naming that path and, for unknown names, the
closest known one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mloop.data.checks import Severity
from mloop.data.errors import ContractError, Path
from mloop.data.sql_rules import regex_problem

MAX_NAME_LENGTH = 256
MAX_ALLOWED_VALUES = 100_000

_INT_TYPES = frozenset({"int", "int8", "int16", "int32", "int64"}) | frozenset(
    {"uint8", "uint16", "uint32", "uint64"}
)
_NUMERIC_TYPES = _INT_TYPES | frozenset(
    {"float", "number", "decimal", "float16", "float32", "float64"}
)
_TEMPORAL_TYPES = frozenset({"date", "timestamp", "date32", "date64"})
_STRING_TYPES = frozenset({"string", "large_string"})
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def known(key: Any, options: Sequence[str], path: Path, what: str) -> None:
    """Refuse a key or name outside ``options``, suggesting the closest one."""
    if key in options:
        return
    hint = difflib.get_close_matches(str(key), list(options), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ContractError(
        f"unknown {what} {str(key)!r}{suggestion}; expected one of: {', '.join(options)}",
        (*path, str(key)),
    )


def known_keys(
    data: Mapping[str, Any], options: Sequence[str], path: Path, what: str = "key"
) -> None:
    """Refuse any key of ``data`` outside ``options``."""
    for key in data:
        known(key, options, path, what)


@contextmanager
def at(*prefix: str | int) -> Iterator[None]:
    """Errors raised inside are placed under ``prefix``."""
    try:
        yield
    except ContractError as exc:
        raise exc.prefixed(prefix) from None


def show(value: Any) -> str:
    """A value as an error message quotes it, cut short."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def flag(value: Any, path: Path) -> bool:
    """``true`` or ``false`` (no YAML 1.1 ``yes``/``no``, no numbers)."""
    if not isinstance(value, bool):
        raise ContractError(f"expected true or false, got {show(value)}", path)
    return value


def text(value: Any, path: Path) -> str:
    """Free text such as a description, at most 10000 characters."""
    if not isinstance(value, str):
        raise ContractError(f"expected text, got {show(value)}", path)
    if len(value) > 10_000:
        raise ContractError("is longer than 10000 characters", path)
    return value


def check_name(value: Any, path: Path) -> str:
    """The name of a contract or a check: non-empty, short, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"expected a non-empty name, got {show(value)}", path)
    if len(value) > MAX_NAME_LENGTH:
        raise ContractError(f"is longer than {MAX_NAME_LENGTH} characters", path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ContractError("must not contain control characters", path)
    return value


def column_name(value: Any, path: Path) -> str:
    """A column name: non-empty, short, no NUL."""
    if not isinstance(value, str) or not value:
        raise ContractError(f"expected a column name, got {show(value)}", path)
    if len(value) > MAX_NAME_LENGTH:
        raise ContractError(f"column name is longer than {MAX_NAME_LENGTH} characters", path)
    if "\x00" in value:
        raise ContractError("column name contains a NUL character", path)
    return value


def choice(value: Any, options: Sequence[str], path: Path, what: str) -> str:
    """One of ``options``, suggesting the closest for a near miss."""
    if not isinstance(value, str):
        raise ContractError(f"expected one of {', '.join(options)}; got {show(value)}", path)
    if value not in options:
        hint = difflib.get_close_matches(value, list(options), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ContractError(
            f"unknown {what} {value!r}{suggestion}; expected one of: {', '.join(options)}", path
        )
    return value


def severity(value: Any, path: Path) -> Severity:
    """``error`` or ``warn``."""
    return choice(value, ("error", "warn"), path, "severity")  # type: ignore[return-value]


def number(value: Any, path: Path, *, minimum: float | None = None) -> int | float:
    """A finite number (not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"expected a number, got {show(value)}", path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"expected a finite number, got {value!r}", path)
    if minimum is not None and value < minimum:
        raise ContractError(f"must be at least {minimum:g}, got {value!r}", path)
    return value


def integer(value: Any, path: Path, *, minimum: int | None = None) -> int:
    """An integer (not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"expected an integer, got {show(value)}", path)
    if minimum is not None and value < minimum:
        raise ContractError(f"must be at least {minimum}, got {value}", path)
    return value


def _temporal(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                return parse(value)
            except ValueError:
                continue
    return None


def bound(value: Any, path: Path, declared: str | None) -> Any:
    """A ``min`` or ``max``: a number, or a date or timestamp, as the column's declared
    type (if any) allows."""
    if declared in _TEMPORAL_TYPES or (declared is None and not isinstance(value, int | float)):
        moment = _temporal(value)
        if moment is not None and not isinstance(value, bool):
            return moment
        if declared in _TEMPORAL_TYPES:
            raise ContractError(
                f"expected a date or timestamp (such as 2024-01-31), got {show(value)}", path
            )
        raise ContractError(f"expected a number, date or timestamp, got {show(value)}", path)
    if declared is not None and declared not in _NUMERIC_TYPES:
        raise ContractError(
            f"min and max apply to numeric and temporal columns, not {declared}", path
        )
    return number(value, path)


def allowed_values(value: Any, path: Path, declared: str | None) -> tuple[Any, ...]:
    """A non-empty list of single values, of the column's declared type (if any)."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ContractError("expected a non-empty list of values", path)
    if len(value) > MAX_ALLOWED_VALUES:
        raise ContractError(f"more than {MAX_ALLOWED_VALUES} allowed values", path)
    expect: tuple[type, ...] | None = None
    label = ""
    if declared in _STRING_TYPES:
        expect, label = (str,), "text"
    elif declared in _INT_TYPES:
        expect, label = (int,), "integers"
    elif declared in _NUMERIC_TYPES:
        expect, label = (int, float), "numbers"
    elif declared == "bool":
        expect, label = (bool,), "true or false"
    out = []
    for i, item in enumerate(value):
        if item is None or isinstance(item, Mapping | list | tuple):
            raise ContractError(f"expected a single value, got {show(item)}", (*path, i))
        if expect is not None:
            ok = isinstance(item, expect) and (bool in expect or not isinstance(item, bool))
            if not ok:
                raise ContractError(
                    f"a {declared} column needs {label} here, got {show(item)}", (*path, i)
                )
        out.append(item)
    return tuple(out)


def regex(value: Any, path: Path) -> str:
    """A non-empty RE2 pattern."""
    if not isinstance(value, str) or not value:
        raise ContractError(f"expected a regular expression, got {show(value)}", path)
    problem = regex_problem(value)
    if problem:
        raise ContractError(f"invalid regular expression (RE2 syntax): {problem}", path)
    return value


def duration(value: Any, path: Path) -> dt.timedelta:
    """A positive duration: a ``timedelta``, seconds, or text such as ``1d12h``."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.replace(" ", "")
        parts = _DURATION_RE.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ContractError(
                f"expected a duration such as 2d, 12h, 1d12h, 30m or 45s; got {show(value)}",
                path,
            )
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ContractError(f"expected a duration such as 2d; got {show(value)}", path)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ContractError("the duration must be positive", path)
    return dt.timedelta(seconds=seconds)
