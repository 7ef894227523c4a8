"""The router: weighted first choice, retries with backoff and Retry-After, fallbacks by error
kind, cool-down, and streams that fall back only before their first chunk."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mloop.core.errors import NotFoundError
from mloop.llm.config import RouteConfig, TargetConfig
from mloop.llm.errors import ProviderError
from mloop.llm.providers.base import Provider
from mloop.llm.router import Attempts, Router
from mloop.llm.types import ChatRequest, ChatResult
from mloop.llm.usage import Usage

REQUEST = ChatRequest(model="r", messages=[{"role": "user", "content": "hi"}])


class Scripted(Provider):
    """Answers from a script: an exception to raise or text to answer, per call."""

    kind = "scripted"

    def __init__(self, name: str, script: list[Any] | None = None) -> None:
        super().__init__(name)
        self.script = list(script or [])
        self.calls: list[str] = []

    def _next(self, model: str) -> Any:
        self.calls.append(model)
        item = self.script.pop(0) if self.script else f"{self.name}:{model}"
        if isinstance(item, ProviderError):
            raise item
        return item

    async def chat(self, request: ChatRequest, model: str, *, timeout: float) -> ChatResult:
        text = self._next(model)
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        return ChatResult(body, Usage(input_tokens=1, output_tokens=1), self.name, model)

    async def stream(
        self, request: ChatRequest, model: str, *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        text = self._next(model)
        for piece in text.split(" "):
            if piece == "BOOM":
                raise ProviderError("server", "died mid-stream", provider=self.name, model=model)
            yield {"choices": [{"index": 0, "delta": {"content": piece}}]}


def err(kind: str, retry_after: float | None = None) -> ProviderError:
    return ProviderError(kind, f"scripted {kind}", retry_after=retry_after)  # type: ignore[arg-type]


def route(*targets: tuple[str, str, float], **kw: Any) -> RouteConfig:
    kw.setdefault("backoff", {"initial_seconds": 0.01, "max_seconds": 1.0})
    return RouteConfig(
        targets=[TargetConfig(provider=p, model=m, weight=w) for p, m, w in targets], **kw
    )


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make(providers: list[Scripted], routes: dict[str, RouteConfig], **kw: Any) -> Router:
    return Router({p.name: p for p in providers}, routes, rng=random.Random(7), **kw)


async def _chat(router: Router, model: str = "r") -> tuple[str, Attempts]:
    attempts = Attempts()

    async def fn(provider: Provider, target: TargetConfig, timeout: float) -> ChatResult:
        return await provider.chat(REQUEST, target.model, timeout=timeout)

    result, _ = await router.call(router.plan(model), attempts, fn)
    return result.text(), attempts


def chat(router: Router, model: str = "r") -> tuple[str, Attempts]:
    return asyncio.run(_chat(router, model))


def test_a_route_answers_from_its_first_target() -> None:
    a, b = Scripted("a"), Scripted("b")
    router = make([a, b], {"r": route(("a", "m1", 1), ("b", "m2", 0))})
    text, attempts = chat(router)
    assert text == "a:m1"
    assert (attempts.retries, attempts.fallbacks) == (0, 0)
    assert b.calls == []


def test_weights_share_first_attempts() -> None:
    a, b = Scripted("a"), Scripted("b")
    router = make([a, b], {"r": route(("a", "m", 3), ("b", "m", 1))})
    for _ in range(400):
        chat(router)
    assert 250 < len(a.calls) < 350
    assert len(a.calls) + len(b.calls) == 400


def test_a_provider_model_can_be_named_directly() -> None:
    router = make([Scripted("a")], {})
    assert chat(router, "a/some-model")[0] == "a:some-model"
    with pytest.raises(NotFoundError, match="neither a route"):
        router.plan("nobody/model")
    with pytest.raises(NotFoundError, match="neither a route"):
        router.plan("a/")


@pytest.mark.parametrize("kind", ["rate_limit", "timeout", "server", "connection", "malformed"])
def test_retryable_errors_are_retried_on_the_same_target(kind: str) -> None:
    sleeps = Sleeps()
    a = Scripted("a", [err(kind), "ok"])
    router = make([a], {"r": route(("a", "m", 1), retries=2)}, sleep=sleeps)
    text, attempts = chat(router)
    assert text == "ok"
    assert attempts.retries == 1 and attempts.fallbacks == 0
    assert [x.outcome for x in attempts.items] == [kind, "ok"]
    assert len(sleeps.waits) == 1


def test_retries_used_up_fall_back_to_the_next_target() -> None:
    sleeps = Sleeps()
    a = Scripted("a", [err("server")] * 3)
    b = Scripted("b")
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0), retries=2)}, sleep=sleeps)
    text, attempts = chat(router)
    assert text == "b:m"
    assert (attempts.retries, attempts.fallbacks) == (2, 1)
    # Exponential backoff with full jitter: each wait within its window.
    assert 0 <= sleeps.waits[0] <= 0.01 and 0 <= sleeps.waits[1] <= 0.02


@pytest.mark.parametrize("kind", ["context_length", "content_policy", "auth", "not_found"])
def test_errors_a_retry_cannot_fix_fall_back_at_once(kind: str) -> None:
    a, b = Scripted("a", [err(kind)]), Scripted("b")
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0), retries=3)})
    text, attempts = chat(router)
    assert text == "b:m" and attempts.retries == 0 and attempts.fallbacks == 1


def test_a_bad_request_fails_without_fallback() -> None:
    a, b = Scripted("a", [err("bad_request")]), Scripted("b")
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0))})
    with pytest.raises(ProviderError) as info:
        chat(router)
    assert info.value.kind == "bad_request" and b.calls == []


def test_retry_after_is_honoured_and_a_long_one_moves_on() -> None:
    sleeps = Sleeps()
    a = Scripted("a", [err("rate_limit", retry_after=0.5), "ok"])
    router = make([a], {"r": route(("a", "m", 1))}, sleep=sleeps)
    assert chat(router)[0] == "ok"
    assert sleeps.waits == [0.5]
    # Longer than the backoff's maximum: the next target answers instead of waiting.
    a2, b2 = Scripted("a", [err("rate_limit", retry_after=120)]), Scripted("b")
    router = make([a2, b2], {"r": route(("a", "m", 1), ("b", "m", 0))}, sleep=sleeps)
    text, attempts = chat(router)
    assert text == "b:m" and attempts.fallbacks == 1 and sleeps.waits == [0.5]


def test_every_target_failing_raises_the_last_error() -> None:
    a = Scripted("a", [err("server")] * 2)
    b = Scripted("b", [err("timeout")] * 2)
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0), retries=1)}, sleep=Sleeps())
    with pytest.raises(ProviderError) as info:
        chat(router)
    assert info.value.kind == "timeout"


def test_a_failing_target_cools_down_and_comes_back() -> None:
    now = [0.0]
    a = Scripted("a", [err("server")] * 2)
    b = Scripted("b")
    cooldown = {"failures": 2, "seconds": 30}
    routes = {"r": route(("a", "m", 1), ("b", "m", 0), retries=0, cooldown=cooldown)}
    router = make([a, b], routes, clock=lambda: now[0])
    chat(router)
    chat(router)
    assert router.health()[("a", "m")]["cooling_down_seconds"] == 30
    calls_before = len(a.calls)
    assert chat(router)[0] == "b:m"
    assert len(a.calls) == calls_before  # skipped while cooling down
    now[0] = 31.0
    assert chat(router)[0] == "a:m"  # back, and its script is used up so it answers
    assert router.health()[("a", "m")]["consecutive_failures"] == 0


def test_when_every_target_cools_down_they_are_still_tried() -> None:
    a = Scripted("a", [err("server")])
    router = make([a], {"r": route(("a", "m", 1), retries=0, cooldown={"failures": 1})})
    with pytest.raises(ProviderError, match="scripted server"):
        chat(router)
    assert chat(router)[0] == "a:m"


async def _stream(router: Router) -> tuple[list[str], Attempts]:
    attempts = Attempts()
    first, rest, _ = await router.stream(
        router.plan("r"),
        attempts,
        lambda p, t, timeout: p.stream(REQUEST, t.model, timeout=timeout),
    )
    pieces = [first["choices"][0]["delta"]["content"]]
    async for chunk in rest:
        pieces.append(chunk["choices"][0]["delta"]["content"])
    return pieces, attempts


def test_a_stream_falls_back_before_its_first_chunk() -> None:
    a = Scripted("a", [err("rate_limit")])
    b = Scripted("b", ["hello from b"])
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0), retries=0)})
    pieces, attempts = asyncio.run(_stream(router))
    assert pieces == ["hello", "from", "b"] and attempts.fallbacks == 1


def test_a_stream_that_fails_after_its_first_chunk_does_not_fall_back() -> None:
    a = Scripted("a", ["hello BOOM"])
    b = Scripted("b")
    router = make([a, b], {"r": route(("a", "m", 1), ("b", "m", 0))})
    with pytest.raises(ProviderError, match="mid-stream"):
        asyncio.run(_stream(router))
    assert b.calls == []


def test_a_failure_after_the_first_chunk_uses_the_routes_cooldown() -> None:
    now = [0.0]
    a = Scripted("a", ["hello BOOM"])
    b = Scripted("b")
    # One failure cools down for 120 s on this route (the default is 3 failures for 30 s).
    cooldown = {"failures": 1, "seconds": 120}
    routes = {"r": route(("a", "m", 1), ("b", "m", 0), cooldown=cooldown)}
    router = make([a, b], routes, clock=lambda: now[0])
    plan = router.plan("r")

    async def fail_mid_stream() -> None:
        _first, rest, target = await router.stream(
            plan,
            Attempts(),
            lambda p, t, timeout: p.stream(REQUEST, t.model, timeout=timeout),
        )
        try:
            async for _ in rest:
                pass
        except ProviderError as exc:
            router.record_stream_failure(plan, target, exc)
            raise

    with pytest.raises(ProviderError, match="mid-stream"):
        asyncio.run(fail_mid_stream())
    assert router.health()[("a", "m")]["cooling_down_seconds"] == 120
    assert chat(router)[0] == "b:m"  # skipped while cooling down
