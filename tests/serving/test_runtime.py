"""The serving runtime alone: a deployment that cannot be loaded here leaves the endpoint on
the old one (with an event saying why), micro-batching, traffic and strategy rules."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.serving.serving_testing import call, variant

from mloop.core.errors import ValidationError
from mloop.serving.batcher import MicroBatcher
from mloop.serving.formats import parse_request
from mloop.serving.loader import ModelCache
from mloop.serving.schemas import VariantSpec
from mloop.serving.service import ServingService
from mloop.serving.strategies import plan_variants, promote, reweight
from mloop.serving.traffic import BUCKETS, bucket, choose
from mloop.store.runtime import Runtime


def test_a_deployment_that_fails_to_load_keeps_the_old_one(
    runtime: Runtime, models: dict[str, Any], tmp_path: Path
) -> None:
    """A replica whose copy of the new version is damaged keeps serving the old version,
    and the trail says so once."""
    call("create_endpoint", name="churn-api")
    first = call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    request = parse_request(b'{"inputs": [{"a": 1.0, "b": 1.0, "c": 0.0}]}')

    async def scenario() -> tuple[int, int]:
        # Its own model cache: this "replica" has loaded nothing yet.
        service = ServingService(runtime, models=ModelCache(tmp_path / "cache"))
        try:
            before = (await service.invoke("churn-api", request)).variant.variant.version
            second = call("deploy", endpoint="churn-api", variants=[variant("churn", version=2)])
            stored = "models/churn/2/model.skops"
            runtime.artifacts.put_bytes(stored, b"damaged")  # after the deploy checked it
            await service.refresh()
            await service.refresh()  # tried again: still refused, recorded once
            after = (await service.invoke("churn-api", request)).variant.variant.version
            assert (await service.live("churn-api")).deployment.id == first.id
            assert second.id != first.id
            return before, after
        finally:
            await service.aclose()

    assert asyncio.run(scenario()) == (1, 1)
    events = call("list_deployment_events", endpoint="churn-api").events
    assert [e.kind for e in events] == ["load_failed", "deploy", "deploy"]
    failed = events[0]
    assert (failed.from_deployment, failed.actor) == (first.id, "mloop-serving")
    assert "models:/churn/2 cannot be loaded" in failed.reason and "digest" in failed.reason


def test_batcher_predicts_queued_requests_together_in_order() -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def predict(inputs: list[Any]) -> list[int]:
        release.wait(10)
        calls.append(list(inputs))
        return [x * 10 for x in inputs]

    async def scenario() -> list[int]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            batcher: MicroBatcher[int] = MicroBatcher(predict, pool, max_batch_rows=3)
            first = asyncio.ensure_future(batcher.submit(1, 1))
            await asyncio.sleep(0)  # the first runs alone: no wait when the slot is free
            rest = [asyncio.ensure_future(batcher.submit(i, 1)) for i in range(2, 6)]
            await asyncio.sleep(0)
            release.set()
            return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == [10, 20, 30, 40, 50]
    # Queued while the first ran: batches of at most max_batch_rows, in arrival order.
    assert calls == [[1], [2, 3, 4], [5]]


def test_batcher_fails_every_request_of_a_failing_batch() -> None:
    def predict(inputs: list[Any]) -> list[int]:
        raise ValueError("model broke")

    async def scenario() -> list[Any]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            batcher: MicroBatcher[int] = MicroBatcher(predict, pool)
            return await asyncio.gather(
                batcher.submit(1, 1), batcher.submit(2, 1), return_exceptions=True
            )

    outcomes = asyncio.run(scenario())
    assert [str(o) for o in outcomes] == ["model broke", "model broke"]


def test_buckets_are_uniform_and_choice_follows_weights() -> None:
    counts = Counter(bucket(f"user-{i}", "ep") * 10 // BUCKETS for i in range(20_000))
    # 20,000 keys over 10 deciles: 2,000 each, standard deviation about 42.
    assert all(1800 < n < 2200 for n in counts.values()), counts

    class V:
        def __init__(self, name: str, weight: int) -> None:
            self.name, self.weight = name, weight

    variants = [V("stable", 70), V("candidate", 30), V("off", 0)]
    chosen = Counter(choose(variants, f"k{i}", "ep").name for i in range(10_000))
    assert chosen["off"] == 0 and 2800 < chosen["candidate"] < 3200, chosen


def test_strategy_rules() -> None:
    specs = [VariantSpec(model="m", version=1), VariantSpec(model="m", version=2, weight=5)]
    canary = plan_variants("canary", specs, [1, 2])
    assert [(v.name, v.role, v.weight) for v in canary] == [
        ("stable", "stable", 95),
        ("candidate", "candidate", 5),
    ]
    shadow = plan_variants("shadow", [specs[0], VariantSpec(model="m", version=2)], [1, 2])
    assert [(v.name, v.role, v.weight) for v in shadow] == [
        ("stable", "stable", 100),
        ("shadow", "shadow", 100),
    ]
    assert [(v.name, v.weight) for v in reweight("shadow", shadow, {"shadow": 10})] == [
        ("stable", 100),
        ("shadow", 10),
    ]
    strategy, promoted = promote("shadow", shadow, None)
    assert strategy == "single" and [(v.version, v.role) for v in promoted] == [(2, "stable")]
    with pytest.raises(ValidationError, match="the stable variant serves all traffic"):
        plan_variants("single", [VariantSpec(model="m", version=1, weight=50)], [1])
    with pytest.raises(ValidationError, match="exactly one variant with role 'stable'"):
        plan_variants(
            "canary", [VariantSpec(model="m", version=1, role="candidate", weight=100)], [1]
        )
    with pytest.raises(ValidationError, match="variant names must be unique"):
        plan_variants(
            "canary",
            [
                VariantSpec(model="m", version=1, name="a"),
                VariantSpec(model="m", version=2, name="a", weight=5),
            ],
            [1, 2],
        )
    with pytest.raises(ValidationError, match="has no variant 'nope'"):
        reweight("canary", canary, {"nope": 5})
