"""Records and times shared by the event log tests."""

from __future__ import annotations

from typing import Any

# 2026-01-01T00:00:00Z and one hour, in ms: fixed event times make days predictable.
DAY0 = 1_767_225_600_000
HOUR = 3_600_000
DAY = 24 * HOUR


def prediction(i: int, *, endpoint: str = "churn", time: int | None = None) -> dict[str, Any]:
    """An inference-shaped record."""
    return {
        "request_id": f"req-{i}",
        "time": DAY0 + i if time is None else time,
        "endpoint": endpoint,
        "variant": "stable",
        "model_name": "churn-model",
        "model_version": 3,
        "inputs": '{"tenure": 12, "plan": "pro"}',
        "outputs": '{"label": 1}',
        "confidence": 0.75,
        "latency_ms": 1.25,
        "status": "ok",
        "error": None,
    }
