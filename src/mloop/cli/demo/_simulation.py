"""What the demo's traffic steps share: a simulated clock and an inference log that stamps
each record with it, so that hours of traffic take seconds and every check and monitor
reads the simulated times."""

from __future__ import annotations

import dataclasses
from typing import Any


class SimulatedClock:
    """Milliseconds that move only when the demo says so (starting now)."""

    def __init__(self) -> None:
        from mloop.core.timeutil import now_ms

        self.now = now_ms()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class StampedLog:
    """The inference log, with each record's time taken from the simulated clock."""

    def __init__(self, log: Any, clock: SimulatedClock) -> None:
        self.log = log
        self.clock = clock

    def record(self, record: Any) -> bool:
        return bool(self.log.record(dataclasses.replace(record, time=self.clock())))

    def close(self) -> None:
        self.log.close()
