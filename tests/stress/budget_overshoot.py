"""Reproduce issue 11, defect 1: concurrent calls against a small ``block`` budget.

A $0.05 daily route budget (and a $1 one), calls of about $0.08 each (simulated provider,
priced through a price overrides file), 0.3 s provider latency, N calls sent at once through
the gateway service (``build_gateway``: the same wiring a server runs), with budget counters
in memory and in Redis. Prints, per backend, limit and concurrency: calls admitted and
refused, other errors, the spend of the admitted calls (from the call log), and the overshoot
ratio (spend over the limit). Not a test: run it by hand::

    .venv/bin/python tests/stress/budget_overshoot.py    # $0.05 and $1, 100 and 200, both
    .venv/bin/python tests/stress/budget_overshoot.py --calls 200 --backend memory --limit 0.05

Redis is expected at ``--redis-url`` (default ``redis://127.0.0.1:6379/0``); the script uses a
route name of its own and deletes its counters afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from mloop.core.config import Settings
from mloop.llm.calls.tables import llm_calls
from mloop.llm.config import GatewayConfig
from mloop.llm.errors import BudgetExceededError
from mloop.llm.gateway.record import Caller
from mloop.llm.gateway.setup import build_gateway
from mloop.llm.types import ChatRequest
from mloop.store.runtime import open_runtime

LIMITS_USD = (0.05, 1.0)
# USD per 1M tokens: a ~30-token prompt and a ~55-token simulated answer cost about $0.08.
PRICES = {"input": "1000", "output": "1000"}
PROMPT = "My order #{i} has not arrived yet and the tracking page shows nothing at all."


def _config(
    home: Path, route: str, limit: float, latency: float, redis_url: str | None
) -> GatewayConfig:
    prices = home / "prices.yaml"
    prices.write_text(
        yaml.safe_dump(
            {
                "prices": [
                    {
                        "provider": "simulated",
                        "model": "sim-large",
                        **PRICES,
                        "effective_from": "2020-01-01",
                    }
                ]
            }
        )
    )
    data: dict[str, Any] = {
        "providers": {"sim": {"kind": "simulated", "latency_seconds": latency}},
        "routes": {
            route: {
                "targets": [{"provider": "sim", "model": "sim-large"}],
                # Requests without max_tokens are capped here under the block budget.
                "reserve_output_tokens": 64,
            }
        },
        "budgets": [{"scope": "route", "key": route, "limit_usd": limit, "action": "block"}],
        "prices_path": str(prices),
    }
    if redis_url:
        data["redis_url"] = redis_url
    return GatewayConfig.from_dict(data)


async def _fire(
    gateway: Any, route: str, calls: int, max_tokens: int
) -> tuple[int, int, dict[str, int]]:
    async def one(i: int) -> str:
        body: dict[str, Any] = {
            "model": route,
            "messages": [{"role": "user", "content": PROMPT.format(i=i)}],
        }
        if max_tokens:
            body["max_tokens"] = max_tokens
        request = ChatRequest.model_validate(body)
        try:
            await gateway.chat(request, Caller(token_name="stress"))
        except BudgetExceededError:
            return "refused"
        except Exception as exc:  # counted and shown: the run goes on
            return type(exc).__name__
        return "admitted"

    outcomes = await asyncio.gather(*(one(i) for i in range(calls)))
    others: dict[str, int] = {}
    for outcome in outcomes:
        if outcome not in ("admitted", "refused"):
            others[outcome] = others.get(outcome, 0) + 1
    return outcomes.count("admitted"), outcomes.count("refused"), others


def run(
    backend: str, limit: float, calls: int, latency: float, redis_url: str, max_tokens: int
) -> dict[str, Any]:
    """One scenario on a fresh store; returns what it measured."""
    route = f"stress-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        runtime = open_runtime(Settings.for_home(home))
        try:
            redis = redis_url if backend == "redis" else None
            config = _config(home, route, limit, latency, redis)
            gateway = build_gateway(runtime, config)

            async def go() -> tuple[int, int, dict[str, int]]:
                try:
                    return await _fire(gateway, route, calls, max_tokens)
                finally:
                    await gateway.aclose()

            admitted, refused, others = asyncio.run(go())
            with runtime.db.engine.connect() as conn:
                spend = conn.execute(sa.select(sa.func.sum(llm_calls.c.cost_usd))).scalar() or 0.0
        finally:
            runtime.close()
            if backend == "redis":
                _drop_keys(redis_url, route)
    return {
        "backend": backend,
        "limit": limit,
        "calls": calls,
        "max_tokens": max_tokens or "-",
        "admitted": admitted,
        "refused": refused,
        "errors": others,
        "spend_usd": float(spend),
        "overshoot": float(spend) / limit,
    }


def _drop_keys(redis_url: str, route: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{route}*"):
        client.delete(key)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="default: 100 and 200")
    parser.add_argument("--backend", choices=["memory", "redis"], action="append")
    parser.add_argument("--limit", type=float, action="append", help="default: 0.05 and 1")
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument(
        "--max-tokens",
        type=int,
        action="append",
        help="the requests' max_tokens, 0 for none (capped at the route's 64); default: 64 and 0",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(f"daily block budget on one route, provider latency {args.latency} s")
    print(
        f"{'backend':8} {'limit $':>7} {'calls':>5} {'max_tok':>7} {'admitted':>8} {'refused':>7} "
        f"{'spend $':>9} {'x limit':>8}  errors"
    )
    for backend in args.backend or ["memory", "redis"]:
        for limit in args.limit or LIMITS_USD:
            for calls, max_tokens in itertools.product(
                args.calls or [100, 200], args.max_tokens or [64, 0]
            ):
                r = run(backend, limit, calls, args.latency, args.redis_url, max_tokens)
                print(
                    f"{r['backend']:8} {r['limit']:>7.2f} {r['calls']:>5} {r['max_tokens']:>7} "
                    f"{r['admitted']:>8} "
                    f"{r['refused']:>7} {r['spend_usd']:>9.4f} {r['overshoot']:>8.2f}  "
                    f"{r['errors'] or '-'}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
