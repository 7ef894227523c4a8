"""Values from the data made JSON-safe for profiles and reports."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from typing import Any

MAX_TEXT = 1000
"""Strings in examples are cut to this many characters (with an ellipsis)."""


def json_safe(value: Any) -> Any:
    """A value that ``json.dumps(allow_nan=False)`` accepts and that still reads well.

    Dates and times become ISO 8601 text, decimals and UUIDs text, bytes base64 (prefixed
    ``base64:``), NaN and infinities the strings ``NaN``, ``Infinity`` and ``-Infinity``,
    long strings are cut, and lists, dicts and tuples are converted element by element.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()}s"
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)[:MAX_TEXT]).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return json_safe(item())
    return str(value)


def finite_or_none(value: Any) -> float | None:
    """A float, or None for missing, NaN and infinite values."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
