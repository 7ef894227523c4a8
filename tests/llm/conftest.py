"""Shared by the LLM tests: a call log with known calls, for the reports and budgets read
from it (on the test database: SQLite, or PostgreSQL with MLOOP_TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from mloop.llm.calls.tables import llm_calls
from mloop.store.context import Context
from mloop.store.runtime import Runtime


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2026-11-22T15:00:00")


def sample_call(at: str, cost: float, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "time": ms(at),
        "endpoint": "chat",
        "route": "support-reply",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "requested_model": "support-reply",
        "token_name": "alice",
        "project": "default",
        "status": "ok",
        "http_status": 200,
        "cost_usd": cost,
        "cost_exact": str(cost),
        "input_tokens": 100,
        "output_tokens": 20,
        "latency_ms": 12.0,
        "cache": "miss",
        "saved_usd": 0.0,
    }
    row.update(fields)
    return row


def insert_calls(runtime: Runtime, rows: list[dict[str, Any]]) -> None:
    def write(ctx: Context) -> None:
        ctx.conn.execute(llm_calls.insert(), rows)

    runtime.run(write, write=True)


@pytest.fixture
def call_log(runtime: Runtime) -> Runtime:
    """The test database with a dozen calls of the weeks before ``NOW`` (and one after it)."""
    insert_calls(
        runtime,
        [
            sample_call("2026-11-20T10:00:00", 1.0),
            sample_call("2026-11-21T23:59:59", 2.0, token_name="bob"),
            sample_call("2026-11-22T00:00:00", 3.0),
            sample_call("2026-11-22T09:00:00", 4.0, route=None, requested_model="anthropic/claude"),
            sample_call(
                "2026-11-22T09:30:00", 0.5, provider="anthropic", model="claude", project="x"
            ),
            sample_call("2026-11-22T10:00:00", 0.0, cache="exact", saved_usd=0.25),
            sample_call("2026-11-22T10:01:00", 0.0, cache="semantic", saved_usd=0.5),
            sample_call("2026-11-22T10:02:00", 0.0, cache="bypass"),
            sample_call("2026-11-22T10:03:00", 0.0, cache="off", route="other"),
            sample_call("2026-11-01T00:00:00", 10.0),
            sample_call("2026-10-31T23:59:59", 100.0),
            sample_call("2026-11-23T00:00:01", 1000.0),  # after "now": never counted
        ],
    )
    return runtime
