"""Short human-readable forms of durations and sizes, shared by the CLI and the web UI."""

from __future__ import annotations


def duration(start_ms: int | None, end_ms: int | None) -> str | None:
    """The time between two epoch-millisecond stamps (``850 ms``, ``4m 05s``); None if unknown."""
    if start_ms is None or end_ms is None or end_ms < start_ms:
        return None
    ms = end_ms - start_ms
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def filesize(size: int | None) -> str | None:
    """Bytes in binary units (``1.5 KiB``); None if unknown."""
    if size is None:
        return None
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
