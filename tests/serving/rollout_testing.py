"""Helpers of the rollout tests: simulated traffic written to the inference log at chosen
times (the evaluator's clock is injected, so nothing sleeps), and deploy shortcuts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from tests.serving.serving_testing import call, variant

from mloop.serving.schemas import Rollout
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime


def traffic(
    runtime: Runtime,
    endpoint: str,
    name: str,
    version: int,
    *,
    start: int,
    count: int,
    spacing_ms: int = 100,
    status: str | Callable[[int], str] = "ok",
    latency_ms: float | Callable[[int], float] = 2.0,
    prediction: Callable[[int], Any] = lambda i: i % 2,
    probabilities: bool = True,
    confidence: Callable[[int], float] | None = None,
) -> list[str]:
    """``count`` requests answered by variant ``name`` (model churn, ``version``) from
    ``start`` ms, ``spacing_ms`` apart, written and flushed; their request ids."""
    log = InferenceLog(runtime)
    ids = []
    for i in range(count):
        state = status(i) if callable(status) else status
        outputs = None
        if state == "ok":
            outputs = {"predictions": [prediction(i)]}
            if probabilities:
                outputs["probabilities"] = [[0.4, 0.6]]
        request_id = uuid.uuid4().hex
        ids.append(request_id)
        log.record(
            InferenceRecord(
                request_id=request_id,
                endpoint=endpoint,
                variant=name,
                model_name="churn",
                model_version=version,
                inputs={"a": i},
                outputs=outputs,
                latency_ms=latency_ms(i) if callable(latency_ms) else latency_ms,
                status=state,
                confidence=None if confidence is None else confidence(i),
                error=None if state == "ok" else "ValueError: broken",
                time=start + i * spacing_ms,
            )
        )
    log.close()
    return ids


def canary(
    endpoint: str,
    *,
    ramp: dict[str, Any] | None = None,
    rules: Sequence[dict[str, Any]] = (),
    first: bool = False,
) -> Rollout:
    """churn v1 live on ``endpoint`` (unless ``first``), then a canary of v2 with a rollout;
    the running rollout."""
    call("create_endpoint", name=endpoint)
    if not first:
        call("deploy", endpoint=endpoint, variants=[variant("churn", version=1)])
    rollout: dict[str, Any] = {"rules": list(rules)}
    if ramp is not None:
        rollout["ramp"] = ramp
    candidate = variant("churn", version=2) if ramp else variant("churn", version=2, weight=10)
    call(
        "deploy",
        endpoint=endpoint,
        strategy="canary",
        variants=[variant("churn", version=1), candidate],
        rollout=rollout,
        reason="try v2",
    )
    return current(endpoint)


def current(endpoint: str) -> Rollout:
    found: Rollout = call("list_endpoint_rollouts", endpoint=endpoint).rollouts[0]
    return found


def events(endpoint: str) -> list[Any]:
    """The endpoint's events, oldest first."""
    return list(reversed(call("list_deployment_events", endpoint=endpoint).events))
