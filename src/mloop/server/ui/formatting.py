"""Template filters and JSON helpers: times, durations, sizes, numbers, money, latencies,
values cut to a length, NaN-safe JSON."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from mloop.core import humanize

_BARE_KEY = re.compile(r"[\w.\-/:]+")

MAX_LABEL = 200
"""Characters of a value shown by default; longer text is cut with an ellipsis."""


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


def usd(value: float | None) -> str:
    """Dollars with enough decimals to see what a single call costs."""
    if value is None:
        return ""
    amount = abs(value)
    if amount == 0:
        return "$0.00"
    if amount >= 1:
        text = f"${amount:,.2f}"
    elif amount >= 0.01:
        text = f"${amount:.4f}"
    else:
        text = f"${amount:.6f}"
    return "-" + text if value < 0 else text


def ms(value: float | None) -> str:
    """A latency: ``840 ms`` or ``2.31 s``."""
    if value is None:
        return ""
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms"


def cut(text: str, limit: int = MAX_LABEL) -> str:
    """``text`` at most ``limit`` characters long, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(value: Any, limit: int = MAX_LABEL) -> str:
    """A value of the data as text: JSON spelling for booleans and null, cut to ``limit``."""
    if isinstance(value, str):
        return cut(value, limit)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return number(value)
    try:
        return cut(json.dumps(value, ensure_ascii=False, allow_nan=True, default=str), limit)
    except (TypeError, ValueError):
        return cut(str(value), limit)


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


def urlquote(value: Any) -> str:
    """``value`` as one URL path segment or query value (``/`` quoted too)."""
    return quote(str(value), safe="")


FILTERS = {
    "ms_time": ms_time,
    "ms_iso": ms_iso,
    "filesize": filesize,
    "duration": duration,
    "json_safe": json_safe,
    "number": number,
    "percent": percent,
    "short_id": short_id,
    "urlquote": urlquote,
    "usd": usd,
    "ms": ms,
}
