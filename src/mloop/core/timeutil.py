"""Time helpers. mloop stores times as integer milliseconds since the Unix epoch (UTC)."""

import time


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
