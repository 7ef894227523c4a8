"""The gateway's side of route rollouts: which requests the candidate gets.

The live rollouts are read from the database at most every ``ttl`` seconds (a step or a
rollback takes effect within that, and a busy route does not read the database per request).
A request's key (the ``x-mloop-sticky`` header, else the caller's token; a fresh draw per
request for anonymous callers) is hashed into serving's buckets, salted by the route and
rollout: a caller sticks to its side, and a ramp step only moves callers onto the candidate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from mloop.llm.rollouts.policy import live_rollouts
from mloop.llm.rollouts.schemas import RouteRollout
from mloop.serving.traffic import BUCKETS, bucket

STICKY_HEADER = "x-mloop-sticky"


@dataclass(frozen=True)
class Arm:
    """The rollout that applies to a request and whether the request is the candidate's."""

    rollout: RouteRollout
    candidate: bool

    @property
    def side(self) -> str:
        return "candidate" if self.candidate else "stable"


def request_key(headers: dict[str, str], token_name: str, call_id: str) -> str:
    sticky = headers.get(STICKY_HEADER)
    if sticky:
        return f"key:{sticky}"
    if token_name and token_name != "anonymous":
        return f"token:{token_name}"
    return f"call:{call_id}"


def is_candidate(rollout: RouteRollout, key: str) -> bool:
    salt = f"route\x00{rollout.route}\x00{rollout.id}"
    return bucket(key, salt) < rollout.weight * (BUCKETS // 100)


class RouteTraffic:
    """The live rollouts by route, refreshed every ``ttl`` seconds."""

    def __init__(self, runtime: object, *, ttl: float = 2.0) -> None:
        self._runtime = runtime
        self._ttl = ttl
        self._by_route: dict[str, RouteRollout] = {}
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _current(self) -> dict[str, RouteRollout]:
        if time.monotonic() < self._expires:
            return self._by_route
        async with self._lock:
            if time.monotonic() >= self._expires:
                found = await asyncio.to_thread(
                    self._runtime.run,  # type: ignore[attr-defined]
                    lambda ctx: live_rollouts(ctx),
                    write=False,
                )
                self._by_route = {r.route: r for r in found}
                self._expires = time.monotonic() + self._ttl
        return self._by_route

    def invalidate(self) -> None:
        self._expires = 0.0

    async def arm(self, route: str | None, prompt: str | None, key: str) -> Arm | None:
        """The rollout of ``route`` that applies to a request naming ``prompt``, if any."""
        if route is None:
            return None
        rollout = (await self._current()).get(route)
        if rollout is None:
            return None
        if rollout.variant_kind == "prompt" and (prompt or "").strip() != rollout.prompt:
            return None
        return Arm(rollout, is_candidate(rollout, key))
