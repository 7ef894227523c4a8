"""What ``mloop monitors`` reads from the command line: times, durations, columns, labels
and dataset references, each refused with a message that names the option and says what
would be accepted.

Malformed or conflicting options are usage errors: ``error: <message> (field: <option>)``
on stderr and exit status 2, as for values click itself refuses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson

from mloop.cli._output import fail
from mloop.core.timeutil import now_ms

# Before 1973 in milliseconds: a number this small is seconds typed where milliseconds go.
_SMALLEST_MS = 100_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"(?:(\d+)([smhdw]))+")
_PART = re.compile(r"(\d+)([smhdw])")
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(\S+))?")
COLUMN_KINDS = ("number", "category", "bool")
USAGE = 2


def usage_error(message: str, option: str) -> NoReturn:
    """Refuse the command line: ``message`` (which names ``option``) and exit status 2."""
    fail(message, option.split()[0].lstrip("-").lower(), code=USAGE)


def parse_duration(text: str, option: str) -> int:
    """Seconds from ``90``, ``30m``, ``1h``, ``1d``, ``1w`` or combinations (``1h30m``)."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    elif _DURATION.fullmatch(value):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    else:
        usage_error(
            f"{option} {text!r} is not a duration: write seconds (3600) or a number with a "
            "unit s, m, h, d or w (30m, 1h, 1d, 1h30m)",
            option,
        )
    if seconds <= 0:
        usage_error(f"{option} {text!r}: a duration must be positive", option)
    return seconds


def parse_time(text: str, option: str, *, now: int | None = None) -> int:
    """Milliseconds since the epoch from ISO-8601 (``2026-05-28``, ``2026-05-28T14:00``,
    with an offset or ``Z``; without one it is UTC), milliseconds since the epoch, or
    ``now``, ``now-2h``, ``now+30m``."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value.lower())
    if relative is not None:
        base = now_ms() if now is None else now
        sign, amount = relative.groups()
        if sign is None:
            return base
        shift = parse_duration(amount, option) * 1000
        return base + shift if sign == "+" else base - shift
    if value.isdigit():
        ms = int(value)
        if ms < _SMALLEST_MS:
            usage_error(
                f"{option} {text!r} looks like seconds since the epoch; times in digits are "
                f"milliseconds ({value}000), or write ISO-8601 (2026-05-28T14:00Z)",
                option,
            )
        return ms
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        usage_error(
            f"{option} {text!r} is not a time: write ISO-8601 (2026-05-28, "
            "2026-05-28T14:00Z, 2026-05-28T16:00+02:00; UTC without an offset), milliseconds "
            "since the epoch, or now, now-2h, now+30m",
            option,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def fmt_utc(ms: int | None) -> str:
    """A time as ISO-8601 in UTC, to the minute (``2026-05-28T14:00Z``), with the seconds
    when they are not zero. :func:`parse_time` reads it back."""
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if moment.second or moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def fmt_seconds(seconds: int) -> str:
    """``3600`` as ``1h``, ``5400`` as ``1h30m``: what :func:`parse_duration` reads back."""
    parts = []
    rest = seconds
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_columns(values: list[str], option: str = "--column") -> dict[str, str]:
    """``{name: kind}`` from ``name:kind`` (the last ``:`` separates, so names may hold
    colons)."""
    columns: dict[str, str] = {}
    for value in values:
        name, sep, kind = value.rpartition(":")
        name, kind = name.strip(), kind.strip().lower()
        if not sep or not name or kind not in COLUMN_KINDS:
            usage_error(
                f"{option} {value!r} must look like NAME:KIND with KIND one of "
                f"{', '.join(COLUMN_KINDS)} (e.g. income:number, region:category)",
                option,
            )
        if name in columns:
            usage_error(f"{option} names column {name!r} twice", option)
        columns[name] = kind
    return columns


def parse_label(text: str) -> str | int | float | bool:
    """A class label: a JSON number or boolean (``1``, ``true``) as that, a JSON string
    (``'"1"'``) as the string, anything else as the text itself."""
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    if isinstance(value, str | int | float | bool):
        return value
    return text


def split_dataset(
    text: str, option: str = "--reference-dataset"
) -> tuple[str, int | None, str | None]:
    """``(name, version, alias)`` from ``NAME``, ``NAME@VERSION``, ``NAME/VERSION`` or
    ``NAME@ALIAS`` (aliases are never numbers, so ``@3`` is a version)."""
    name, sep, after = text.partition("@")
    if not sep:
        name, sep, after = text.partition("/")
    name, after = name.strip(), after.strip()
    if not name or (sep and not after):
        usage_error(
            f"{option} {text!r} must be NAME, NAME@VERSION or NAME@ALIAS (e.g. "
            "credit-train@3, credit-train@training)",
            option,
        )
    if not sep:
        return name, None, None
    if after.isdigit() and int(after) >= 1:
        return name, int(after), None
    if "@" not in text:
        usage_error(f"{option} {text!r}: the part after '/' must be a version number", option)
    return name, None, after
