"""Time helpers. mloop stores times as integer milliseconds since the Unix epoch (UTC)."""

import datetime as _dt
import time


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def format_ms(ms: int | None) -> str:
    """Human-readable UTC time for tables and pages; empty for None."""
    if ms is None:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    """Duration between two timestamps as ``1h 2m 3s``; empty when unknown."""
    if start_ms is None or end_ms is None:
        return ""
    seconds = max(0, (end_ms - start_ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{(end_ms - start_ms) / 1000:.1f}s"
