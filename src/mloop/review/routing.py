"""Confidence routing: which of an endpoint's predictions go to people, decided per request.

The serving runtime holds a :class:`ReviewRouter`. When it loads an endpoint it loads the
endpoint's routing policy too (:meth:`ReviewRouter.load`), and re-reads it when it changes
(:meth:`ReviewRouter.refresh`, with the deployments). Deciding (:meth:`ReviewRouter.decide`)
costs a request a few float operations per row and no I/O; a routed request's item is
written by :meth:`ReviewRouter.enqueue` in a worker thread, off the event loop.

A request is routed when any of its rows is doubtful: its top class probability under the
threshold (``confidence``, with per-class thresholds), its top two closer than the threshold
(``margin``), or its normalised entropy above it (``entropy``). A model that gives no
probabilities has only its ``confidence``, if any; one with neither is never routed. At most
``max_share`` of the last 1,000 requests of the endpoint (in this process) are routed, so a
drifting model cannot flood the reviewers: past the cap, requests are answered as usual and
counted in :attr:`ReviewRouter.over_cap`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mloop.review.records import dumps
from mloop.review.schemas import NewItem, RoutingPolicy
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.review")

WINDOW = 1000
"""Requests the routed share is counted over (per endpoint and process)."""


def class_key(value: Any) -> str:
    """A class as the text ``class_thresholds`` keys it by: strings as they are, other values
    as their JSON (``1``, ``true``)."""
    return value if isinstance(value, str) else dumps(value)


def doubtful_rows(
    policy: RoutingPolicy,
    predictions: Sequence[Any],
    probabilities: Sequence[Sequence[float]] | None,
    confidence: Sequence[float] | None,
) -> list[int]:
    """The rows the policy sends to people."""
    found: list[int] = []
    for row, prediction in enumerate(predictions):
        probs = probabilities[row] if probabilities is not None else None
        top = confidence[row] if confidence is not None else (max(probs) if probs else None)
        if policy.criterion == "confidence":
            if top is None:
                continue
            limit = policy.class_thresholds.get(class_key(prediction), policy.threshold)
            if top < limit:
                found.append(row)
        elif probs is not None and len(probs) >= 2:
            if policy.criterion == "margin":
                first, second = sorted(probs, reverse=True)[:2]
                if first - second < policy.threshold:
                    found.append(row)
            elif _entropy(probs) > policy.threshold:
                found.append(row)
    return found


def _entropy(probs: Sequence[float]) -> float:
    """Shannon entropy over log(k): 0 for a certain answer, 1 for a uniform one."""
    total = sum(p * math.log(p) for p in probs if p > 0)
    return -total / math.log(len(probs))


@dataclass(frozen=True)
class Routed:
    """A routed request: the policy that routed it, its doubtful rows, and what the caller
    gets (``status``: ``needs_review``, ``fallback`` or ``pending``)."""

    policy: RoutingPolicy
    rows: list[int]

    @property
    def status(self) -> str:
        return {"flag": "needs_review", "fallback": "fallback", "pending": "pending"}[
            self.policy.on_route
        ]

    def answer(self, request_id: str) -> dict[str, Any]:
        """The ``review`` part of the caller's answer."""
        return {
            "status": self.status,
            "queue": self.policy.queue,
            "rows": self.rows,
            "poll": f"/api/v1/review/items/by-request?request_id={request_id}",
        }


@dataclass
class _Share:
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    routed: int = 0

    def admit(self, doubtful: bool, max_share: float) -> bool:
        take = doubtful and self.routed < max_share * WINDOW
        if len(self.recent) == WINDOW and self.recent[0]:
            self.routed -= 1
        self.recent.append(take)
        self.routed += take
        return take


class ReviewRouter:
    """The routing policies of the endpoints one serving process serves."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.over_cap: Counter[str] = Counter()  # doubtful requests not routed, per endpoint
        self.failed: Counter[str] = Counter()  # items that could not be written
        self._policies: dict[str, RoutingPolicy | None] = {}
        self._shares: dict[str, _Share] = {}

    def load(self, endpoint: str) -> None:
        """Read the endpoint's policy (in a worker thread)."""
        from mloop.review.policies import routing_policy

        self._policies[endpoint] = self.runtime.run(
            lambda ctx: routing_policy(ctx, endpoint), write=False
        )

    def refresh(self, endpoints: list[str]) -> None:
        """Re-read the policies that changed (in a worker thread; one indexed query)."""
        from mloop.review.policies import routing_versions

        versions = self.runtime.run(lambda ctx: routing_versions(ctx, endpoints), write=False)
        for name in endpoints:
            held = self._policies.get(name)
            stamp = versions.get(name)
            if stamp is None:
                self._policies[name] = None
            elif held is None or held.updated_at != stamp:
                self.load(name)

    def decide(
        self,
        endpoint: str,
        predictions: Sequence[Any],
        probabilities: Sequence[Sequence[float]] | None,
        confidence: Sequence[float] | None,
    ) -> Routed | None:
        """Whether this answered request goes to people; no I/O."""
        policy = self._policies.get(endpoint)
        if policy is None or not policy.enabled:
            return None
        rows = doubtful_rows(policy, predictions, probabilities, confidence)
        share = self._shares.setdefault(endpoint, _Share())
        if not share.admit(bool(rows), policy.max_share):
            if rows:
                self.over_cap[endpoint] += 1
            return None
        return Routed(policy, rows)

    def enqueue(
        self,
        routed: Routed,
        *,
        request_id: str,
        endpoint: str,
        variant: str,
        model_name: str,
        model_version: int,
        inputs: Any,
        predictions: list[Any],
        probabilities: list[list[float]] | None,
        classes: list[Any] | None,
        confidence: list[float] | None,
    ) -> None:
        """Write the routed request's item (in a worker thread)."""
        from mloop.review.items import enqueue
        from mloop.review.records import load_queue_row

        doubt = [float(confidence[r]) for r in routed.rows] if confidence else []
        # Through JSON: a model's numpy values become plain numbers.
        payload = orjson.loads(
            dumps(
                {
                    "inputs": inputs,
                    "predictions": predictions,
                    "probabilities": probabilities,
                    "classes": classes,
                    "doubtful_rows": routed.rows,
                    "criterion": routed.policy.criterion,
                }
            )
        )
        item = NewItem(
            request_id=request_id,
            source="endpoint",
            target=endpoint,
            payload=payload,
            prediction=payload["predictions"][0]
            if len(predictions) == 1
            else payload["predictions"],
            confidence=min(doubt) if doubt else None,
            model_name=model_name,
            model_version=model_version,
            variant=variant,
            reason="confidence",
        )
        try:
            self.runtime.run(
                lambda ctx: enqueue(ctx, load_queue_row(ctx, routed.policy.queue), [item]),
                write=True,
                actor="mloop-serving",
            )
        except Exception:
            self.failed[endpoint] += 1
            log.exception(
                "could not queue request %s of endpoint %s for review", request_id, endpoint
            )
            raise
