"""Template filters and JSON helpers: times, durations, sizes, numbers, NaN-safe JSON."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from mloop.core import humanize

_BARE_KEY = re.compile(r"[\w.\-/:]+")


def ms_time(value: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` (UTC); empty for None."""
    if value is None:
        return ""
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(value)


def ms_iso(value: int | None) -> str:
    """Epoch milliseconds as an ISO 8601 UTC string for ``<time datetime>``."""
    if value is None:
        return ""
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return ""


def duration(start: int | None, end: int | None) -> str:
    """A short human duration between two epoch-millisecond times (``1h 02m``)."""
    return humanize.duration(start, end) or ""


def filesize(value: int | None) -> str:
    """Bytes in binary units (``1.5 KiB``)."""
    return humanize.filesize(value) or ""


def number(value: Any) -> str:
    """A metric value: 6 significant digits, NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.6g}"


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage (``0.1234`` -> ``12.3%``); empty when not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    return f"{value * 100:.{digits}f}%"


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (JSON has no NaN or infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def json_safe(value: Any) -> Any:
    """A copy of ``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def quote_key(kind: str, key: str) -> str:
    """An identifier of the filter / order-by language (``metrics."val loss"``)."""
    if kind == "attributes":
        return f"attributes.{key}"
    shown = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '""') + '"'
    return f"{kind}.{shown}"


def short_id(value: str | None, length: int = 8) -> str:
    return (value or "")[:length]


FILTERS = {
    "ms_time": ms_time,
    "ms_iso": ms_iso,
    "filesize": filesize,
    "duration": duration,
    "json_safe": json_safe,
    "number": number,
    "percent": percent,
    "short_id": short_id,
}
