"""Routes: which provider model serves a request, and what happens when one fails.

A request names a route (``support-reply``) or a provider model (``openai/gpt-4o-mini``). A
route's targets are tried in order: the first attempt goes to a target drawn by weight (targets
with weight 0 are fallbacks only), then the others follow in the order written. On each target
a retryable failure (rate limit, timeout, 5xx, connection, malformed answer) is retried with
exponential backoff and jitter, waiting at least what the provider's Retry-After asked for; when
the retries are used up, or the failure is one a retry cannot fix on the same model (context
length, content policy, auth, unknown model), the next target is tried. A bad request is bad on
every model, so it fails at once. A target that fails ``cooldown.failures`` times in a row is
skipped for ``cooldown.seconds``, unless every target is cooling down.

Streams fall back only before their first chunk: once a token has reached the caller, an error
ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mloop.core.errors import NotFoundError
from mloop.llm.config import BackoffConfig, CooldownConfig, RouteConfig, TargetConfig
from mloop.llm.errors import ProviderError
from mloop.llm.providers.base import Provider

T = TypeVar("T")

# A provider model named directly gets these settings (the route defaults).
_DIRECT = RouteConfig(targets=[TargetConfig(provider="direct", model="direct")])


class NoTargetLeft(LookupError):
    """Every target was excluded: nothing is left to send the request to."""


@dataclass(frozen=True)
class Plan:
    """How to serve one request: the route (None when a provider model was named) and its
    settings."""

    route: str | None
    config: RouteConfig
    targets: tuple[TargetConfig, ...]


@dataclass
class Attempt:
    """One try at one provider model, as recorded in the call log."""

    provider: str
    model: str
    outcome: str  # "ok" or an error kind
    latency_ms: float
    status: int | None = None
    retry_after: float | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.status is not None:
            out["status"] = self.status
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        if self.message:
            out["message"] = self.message[:500]
        return out


@dataclass
class Attempts:
    """Every attempt of a request; retries and fallbacks are derived from it."""

    items: list[Attempt] = field(default_factory=list)

    @property
    def retries(self) -> int:
        """Attempts that repeated the previous attempt's target."""
        return sum(
            1
            for prev, cur in zip(self.items, self.items[1:], strict=False)
            if (prev.provider, prev.model) == (cur.provider, cur.model)
        )

    @property
    def fallbacks(self) -> int:
        """Moves to another target."""
        return sum(
            1
            for prev, cur in zip(self.items, self.items[1:], strict=False)
            if (prev.provider, prev.model) != (cur.provider, cur.model)
        )

    def to_list(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.items]


class _Health:
    """Consecutive failures and cool-down of one target."""

    __slots__ = ("cooling_until", "failures", "last_error", "successes", "total_failures")

    def __init__(self) -> None:
        self.failures = 0
        self.cooling_until = 0.0
        self.successes = 0
        self.total_failures = 0
        self.last_error: str | None = None


class Router:
    """Serves requests over the configured providers and routes; holds target health."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        routes: Mapping[str, RouteConfig],
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = dict(providers)
        self.routes = dict(routes)
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self._health: dict[tuple[str, str], _Health] = {}

    # -- planning ---------------------------------------------------------------------------

    def plan(self, model: str) -> Plan:
        """The plan for a request's ``model``: a route, or ``provider/model``."""
        route = self.routes.get(model)
        if route is not None:
            return Plan(model, route, tuple(route.targets))
        provider, sep, provider_model = model.partition("/")
        if sep and provider in self.providers and provider_model:
            target = TargetConfig(provider=provider, model=provider_model)
            return Plan(None, _DIRECT, (target,))
        routes = ", ".join(sorted(self.routes)) or "none configured"
        providers = ", ".join(sorted(self.providers)) or "none"
        raise NotFoundError(
            f"model {model!r} is neither a route nor '<provider>/<model>' of a configured "
            f"provider (routes: {routes}; providers: {providers})",
            field="model",
        )

    def order(self, plan: Plan) -> list[TargetConfig]:
        """Targets in the order to try them: one drawn by weight, then the rest as written;
        cooling-down targets are left out unless all are."""
        now = self._clock()
        ready = [t for t in plan.targets if not self._cooling(t, now)]
        pool = ready or list(plan.targets)
        weighted = [t for t in pool if t.weight > 0]
        if not weighted:
            return pool
        if len(weighted) == 1:
            first = weighted[0]
        else:
            first = self._rng.choices(weighted, weights=[t.weight for t in weighted])[0]
        return [first, *(t for t in pool if t is not first)]

    def health(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Per target: successes, failures, consecutive failures, cooling-down seconds left."""
        now = self._clock()
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for key, h in self._health.items():
            out[key] = {
                "successes": h.successes,
                "failures": h.total_failures,
                "consecutive_failures": h.failures,
                "cooling_down_seconds": max(0.0, round(h.cooling_until - now, 1)),
                "last_error": h.last_error,
            }
        return out

    # -- serving ----------------------------------------------------------------------------

    async def call(
        self,
        plan: Plan,
        attempts: Attempts,
        fn: Callable[[Provider, TargetConfig, float], Awaitable[T]],
        *,
        exclude: Collection[tuple[str, str]] = (),
    ) -> tuple[T, TargetConfig]:
        """Run ``fn(provider, target, timeout)`` over the plan's targets with retries and
        fallbacks; ``exclude`` leaves out ``(provider, model)`` targets (a guardrail asked for
        another model). Raises the last ProviderError when every target failed."""
        order = [t for t in self.order(plan) if (t.provider, t.model) not in exclude]
        if not order:
            raise NoTargetLeft("every target of the route was tried or excluded")
        last: ProviderError | None = None
        for target in order:
            provider = self.providers[target.provider]
            for retry in range(plan.config.retries + 1):
                started = time.perf_counter()
                try:
                    result = await fn(provider, target, plan.config.timeout_seconds)
                except ProviderError as exc:
                    last = self._failed(plan, target, attempts, exc, started)
                    if not exc.allows_fallback:
                        raise
                    wait = self._retry_wait(plan.config, exc, retry)
                    if wait is None:
                        break  # next target
                    await self._sleep(wait)
                    continue
                attempts.items.append(
                    Attempt(
                        target.provider,
                        target.model,
                        "ok",
                        (time.perf_counter() - started) * 1000,
                    )
                )
                self._succeeded(target)
                return result, target
        assert last is not None
        raise last

    async def stream(
        self,
        plan: Plan,
        attempts: Attempts,
        open_stream: Callable[[Provider, TargetConfig, float], AsyncIterator[dict[str, Any]]],
    ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]], TargetConfig]:
        """Open a stream with retries and fallbacks up to its first chunk; returns the first
        chunk, the iterator of the rest and the target serving it."""

        async def first(
            provider: Provider, target: TargetConfig, timeout: float
        ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
            iterator = open_stream(provider, target, timeout).__aiter__()
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                raise ProviderError(
                    "malformed",
                    "the stream ended before its first chunk",
                    provider=target.provider,
                    model=target.model,
                ) from None
            except BaseException:
                await _aclose(iterator)
                raise
            return chunk, iterator

        (chunk, rest), target = await self.call(plan, attempts, first)
        return chunk, rest, target

    def record_stream_failure(self, plan: Plan, target: TargetConfig, exc: ProviderError) -> None:
        """A stream of ``plan`` failed after its first chunk: counts toward the target's
        cool-down, as the plan's route configures it."""
        self._mark_failure(target, exc, plan.config.cooldown)

    # -- health -----------------------------------------------------------------------------

    def _failed(
        self,
        plan: Plan,
        target: TargetConfig,
        attempts: Attempts,
        exc: ProviderError,
        started: float,
    ) -> ProviderError:
        attempts.items.append(
            Attempt(
                target.provider,
                target.model,
                exc.kind,
                (time.perf_counter() - started) * 1000,
                status=exc.provider_status,
                retry_after=exc.retry_after,
                message=exc.message,
            )
        )
        # A bad request says nothing about the target's health.
        if exc.allows_fallback:
            self._mark_failure(target, exc, plan.config.cooldown)
        return exc

    def _mark_failure(self, target: TargetConfig, exc: ProviderError, cd: CooldownConfig) -> None:
        h = self._health.setdefault((target.provider, target.model), _Health())
        h.failures += 1
        h.total_failures += 1
        h.last_error = exc.kind
        if h.failures >= cd.failures and cd.seconds > 0:
            h.cooling_until = self._clock() + cd.seconds

    def _succeeded(self, target: TargetConfig) -> None:
        h = self._health.get((target.provider, target.model))
        if h is None:
            h = self._health[(target.provider, target.model)] = _Health()
        h.failures = 0
        h.successes += 1
        h.cooling_until = 0.0

    def _cooling(self, target: TargetConfig, now: float) -> bool:
        h = self._health.get((target.provider, target.model))
        return h is not None and h.cooling_until > now

    def _retry_wait(self, route: RouteConfig, exc: ProviderError, retry: int) -> float | None:
        """Seconds to wait before retrying the same target, or None to move on."""
        if not exc.retryable or retry >= route.retries:
            return None
        wait = _backoff(route.backoff, retry, self._rng)
        if exc.retry_after is not None:
            if exc.retry_after > route.backoff.max_seconds:
                return None  # the provider asks for longer than we wait: use the next target
            wait = max(wait, exc.retry_after)
        return wait


def _backoff(cfg: BackoffConfig, retry: int, rng: random.Random) -> float:
    base = min(cfg.max_seconds, cfg.initial_seconds * cfg.multiplier**retry)
    if cfg.jitter:
        # "Full jitter" spreads retries of many clients over the whole window.
        return rng.uniform(0, base)
    return base


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        # Closing a broken stream must not hide the original error.
        with contextlib.suppress(Exception):
            await close()
