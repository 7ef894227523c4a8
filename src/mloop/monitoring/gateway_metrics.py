"""The figures of a window of gateway calls that alert rules on LLM features read.

- ``gateway.calls``; ``gateway.error_rate`` and ``gateway.blocked_rate`` (shares of the
  calls with status ``error`` and ``blocked``, the latter by a guardrail);
- ``gateway.latency.p50`` / ``p95`` / ``p99`` in ms, over the calls that did not fail;
- ``gateway.cost_usd``, ``gateway.tokens.input``, ``gateway.tokens.output`` (sums), and
  ``gateway.cost_per_call``;
- ``gateway.cache_hit_rate``: the share answered from the cache (exact or semantic);
- ``gateway.fallback_rate``: the share another target answered after the first failed.

Latencies are kept as one float per call (8 bytes: 8 MB for a million calls), so the
percentiles are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HITS = ("exact", "semantic")


class CallStats:
    """A :class:`~mloop.monitoring.observers.WindowObserver` of gateway calls."""

    section = "gateway"

    def __init__(self) -> None:
        self.calls = 0
        self.statuses: dict[str, int] = {}
        self.cache_hits = 0
        self.fallbacks = 0
        self.cost = 0.0
        self.input_tokens = 0.0
        self.output_tokens = 0.0
        self._latencies: list[np.ndarray] = []

    def add(self, batch: pa.RecordBatch) -> None:
        self.calls += batch.num_rows
        status = batch.column("status")
        for entry in pc.value_counts(status).to_pylist():
            key = entry["values"] if entry["values"] is not None else "unknown"
            self.statuses[key] = self.statuses.get(key, 0) + entry["counts"]
        hits = pc.sum(pc.is_in(batch.column("cache"), pa.array(_HITS))).as_py()
        self.cache_hits += int(hits or 0)
        self.fallbacks += int(
            pc.sum(pc.greater(pc.fill_null(batch.column("fallbacks"), 0), 0)).as_py() or 0
        )
        self.cost += _sum(batch, "cost_usd")
        self.input_tokens += _sum(batch, "input_tokens")
        self.output_tokens += _sum(batch, "output_tokens")
        answered = pc.not_equal(status, "error").fill_null(True)
        latency = batch.column("latency_ms").filter(answered).drop_null()
        if len(latency):
            self._latencies.append(latency.to_numpy(zero_copy_only=False))

    def finish(self) -> tuple[dict[str, Any], dict[str, float | None]]:
        calls = self.calls
        latencies = np.concatenate(self._latencies) if self._latencies else np.empty(0)
        percentiles: dict[str, float | None] = {
            f"p{q}": float(np.percentile(latencies, q)) if latencies.size else None
            for q in (50, 95, 99)
        }

        def share(count: int) -> float | None:
            return count / calls if calls else None

        report: dict[str, Any] = {
            "calls": calls,
            "statuses": dict(sorted(self.statuses.items())),
            "error_rate": share(self.statuses.get("error", 0)),
            "blocked_rate": share(self.statuses.get("blocked", 0)),
            "latency_ms": percentiles,
            "cost_usd": self.cost,
            "cost_per_call": self.cost / calls if calls else None,
            "tokens": {"input": self.input_tokens, "output": self.output_tokens},
            "cache_hit_rate": share(self.cache_hits),
            "fallback_rate": share(self.fallbacks),
        }
        metrics: dict[str, float | None] = {
            "gateway.calls": float(calls),
            "gateway.error_rate": report["error_rate"],
            "gateway.blocked_rate": report["blocked_rate"],
            **{f"gateway.latency.{k}": v for k, v in percentiles.items()},
            "gateway.cost_usd": self.cost,
            "gateway.cost_per_call": report["cost_per_call"],
            "gateway.tokens.input": self.input_tokens,
            "gateway.tokens.output": self.output_tokens,
            "gateway.cache_hit_rate": report["cache_hit_rate"],
            "gateway.fallback_rate": report["fallback_rate"],
        }
        return report, metrics

    def close(self) -> None:
        self._latencies = []


def _sum(batch: pa.RecordBatch, name: str) -> float:
    return float(pc.sum(batch.column(name)).as_py() or 0.0)
