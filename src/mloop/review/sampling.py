"""Production sampling: a random share of an endpoint's predictions or a gateway route's
calls goes to a queue whatever the confidence, because offline scores are not real-world
quality.

Sampling works hour by hour over hours that have ended: ``per_day`` spreads N cases over the
day's 24 hours (hour h takes its share of N, so a day takes exactly N when traffic allows),
``rate`` takes that share of each hour. Which requests are taken is decided by a hash of the
policy and the request id, so sampling an hour again takes the same requests (and the queue
holds each once). Each policy's row is locked while it samples, so with several server
replicas each hour is sampled once. A background task samples every few minutes; the
``run_review_sampling`` operation (``mloop review sample``) does it now.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from typing import Any

import orjson
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from mloop.core.http import ServerParts
from mloop.core.periodic import PeriodicTask
from mloop.core.timeutil import now_ms
from mloop.review import tables as t
from mloop.review.items import enqueue
from mloop.review.ops import operations
from mloop.review.records import load_queue_by_id, loads
from mloop.review.schemas import NewItem, RunSampling, SampledHours, SamplingRun
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.review")

HOUR_MS = 3_600_000
MAX_HOURS = 48  # per policy and run: a long outage catches up over several runs
SAMPLE_INTERVAL_S = 300.0


def hour_quota(per_day: int, hour_start: int) -> int:
    """Hour h's share of ``per_day``: the shares of a day's 24 hours add up to it."""
    hour = (hour_start // HOUR_MS) % 24
    return (hour + 1) * per_day // 24 - hour * per_day // 24


def _draw(policy_id: int, request_id: str) -> float:
    digest = hashlib.blake2b(f"{policy_id}:{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose(policy_id: int, config: dict[str, Any], hour_start: int, ids: list[str]) -> set[str]:
    """The request ids of one hour the policy takes."""
    draws = sorted((_draw(policy_id, i), i) for i in set(ids))
    if config.get("rate") is not None:
        return {i for d, i in draws if d < config["rate"]}
    return {i for _d, i in draws[: hour_quota(int(config["per_day"]), hour_start)]}


def _endpoint_items(
    ctx: Context, endpoint: str, start: int, end: int, policy_id: int, config: dict[str, Any]
) -> list[NewItem]:
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.reader import read_events
    from mloop.store.eventlog.transaction import InTransaction

    table = read_events(
        InTransaction(ctx),  # type: ignore[arg-type]
        SOURCE,
        keys=[endpoint],
        since=start,
        until=end,
        columns=[
            "request_id",
            "time",
            "variant",
            "model_name",
            "model_version",
            "inputs",
            "outputs",
            "confidence",
        ],
        where="status = 'ok'",
    )
    if not table.num_rows:
        return []
    # A shadow copy shares its request's id and is logged after it: keep the first.
    first: dict[str, dict[str, Any]] = {}
    for row in sorted(table.to_pylist(), key=lambda r: r["time"]):
        first.setdefault(row["request_id"], row)
    taken = choose(policy_id, config, start, list(first))
    items = []
    for request_id in sorted(taken):
        row = first[request_id]
        outputs = orjson.loads(row["outputs"]) if row["outputs"] else {}
        predictions = outputs.get("predictions") or []
        items.append(
            NewItem(
                request_id=request_id,
                source="endpoint",
                target=endpoint,
                payload={
                    "inputs": orjson.loads(row["inputs"]),
                    "predictions": predictions,
                    "probabilities": outputs.get("probabilities"),
                    "classes": outputs.get("classes"),
                },
                prediction=predictions[0] if len(predictions) == 1 else predictions,
                confidence=row["confidence"],
                model_name=row["model_name"],
                model_version=row["model_version"],
                variant=row["variant"],
                reason="sample",
            )
        )
    return items


def _answer_text(response: Any) -> Any:
    """The assistant's text of an OpenAI-style chat response, if captured."""
    try:
        return response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None


def _gateway_items(
    ctx: Context, route: str, start: int, end: int, policy_id: int, config: dict[str, Any]
) -> list[NewItem]:
    from mloop.llm.calls.tables import llm_calls

    c = llm_calls.c
    rows = {
        r.id: r
        for r in ctx.conn.execute(
            select(
                c.id,
                c.time,
                c.model,
                c.prompt_name,
                c.prompt_version,
                c.capture,
                c.request_json,
                c.response_json,
                c.latency_ms,
                c.cost_usd,
            ).where(c.route == route, c.time >= start, c.time < end, c.status == "ok")
        )
    }
    items = []
    for call_id in sorted(choose(policy_id, config, start, list(rows))):
        r = rows[call_id]
        request = loads(r.request_json) if r.request_json else None
        answer = _answer_text(loads(r.response_json)) if r.response_json else None
        items.append(
            NewItem(
                request_id=call_id,
                source="gateway",
                target=route,
                payload={
                    "messages": (request or {}).get("messages")
                    if isinstance(request, dict)
                    else None,
                    "answer": answer,
                    "model": r.model,
                    "capture": r.capture,
                    "latency_ms": r.latency_ms,
                    "cost_usd": r.cost_usd,
                },
                prediction=answer,
                prompt_name=r.prompt_name,
                prompt_version=r.prompt_version,
                reason="sample",
            )
        )
    return items


def sample_policy(ctx: Context, policy_id: int, until: int) -> SampledHours:
    """Sample the policy's ended hours before ``until`` not sampled yet (up to MAX_HOURS)."""
    p = t.review_policies.c
    row = ctx.conn.execute(
        select(t.review_policies).where(p.id == policy_id).with_for_update()
    ).one()
    end = until - until % HOUR_MS
    start = row.sampled_until if row.sampled_until is not None else end
    hours = added = 0
    queue = load_queue_by_id(ctx, row.queue_id)
    config = loads(row.config_json)
    while start < end and hours < MAX_HOURS:
        collect = _endpoint_items if row.target_kind == "endpoint" else _gateway_items
        items = collect(ctx, row.target, start, start + HOUR_MS, row.id, config)
        for i in range(0, len(items), 1000):
            added += enqueue(ctx, queue, items[i : i + 1000]).added
        start += HOUR_MS
        hours += 1
    if hours:
        ctx.conn.execute(
            update(t.review_policies).where(p.id == row.id).values(sampled_until=start)
        )
    return SampledHours(policy=row.id, hours=hours, added=added)


@operations.post("/sampling/run", RunSampling, SamplingRun)
def run_review_sampling(ctx: Context, req: RunSampling) -> SamplingRun:
    """Sample the ended hours not sampled yet, for one sampling policy or all."""
    from mloop.core.errors import NotFoundError

    p = t.review_policies.c
    query = select(p.id).where(p.kind == "sampling", p.enabled.is_(True)).order_by(p.id)
    if req.id is not None:
        query = select(p.id).where(p.kind == "sampling", p.id == req.id)
    ids = list(ctx.conn.execute(query).scalars())
    if req.id is not None and not ids:
        raise NotFoundError(f"there is no sampling policy {req.id}", field="id")
    until = now_ms() if req.until is None else req.until
    return SamplingRun(policies=[sample_policy(ctx, i, until) for i in ids])


def _sample(ctx: Context, *, policy_id: int, until: int) -> SampledHours:
    return sample_policy(ctx, policy_id, until)


class ReviewSampler(PeriodicTask):
    """Samples every enabled policy's ended hours, each policy in its own transaction."""

    def __init__(self, runtime: Runtime, *, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(interval_s=interval_s, thread_name="mloop-review-sampler")
        self.runtime = runtime

    def run_once(self, now: int | None = None) -> int:
        """One round; how many items it added."""
        until = now_ms() if now is None else now
        p = t.review_policies.c
        ids = self.runtime.run(
            lambda ctx: list(
                ctx.conn.execute(
                    select(p.id).where(p.kind == "sampling", p.enabled.is_(True))
                ).scalars()
            ),
            write=False,
        )
        added = 0
        for policy_id in ids:
            try:
                result: SampledHours = self.runtime.run(
                    functools.partial(_sample, policy_id=policy_id, until=until),
                    write=True,
                    actor="mloop",
                )
            except Exception:  # one broken policy must not stop the others
                log.exception("review sampling policy %s failed", policy_id)
                continue
            added += result.added
        return added


def review_http(parts: ServerParts) -> list[Any]:
    """Start the sampler with the server and stop it at shutdown; no routes of its own."""
    sampler = ReviewSampler(parts.runtime)

    async def start() -> None:
        sampler.start()

    async def close() -> None:
        await run_in_threadpool(sampler.close)

    parts.on_start.append(start)
    parts.on_close.append(close)
    parts.state["review_sampler"] = sampler
    return []
