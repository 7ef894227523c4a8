"""The gateway service: one chat or embeddings request from arrival to call log.

For a chat request, in order: the caller's rate limit; the named prompt rendered into
messages; the plan (route or provider model); the budgets; the route's input guardrails; the
cache; the router (retries, fallbacks); the output guardrails (which may re-ask or ask the next
target); the cost from the provider's usage; the cache write; and the call record, queued for
the background writer. Every request produces exactly one call record, refused ones included.

A streamed request whose route has output guardrails that can change the answer (block,
redact, re-ask, fall back) is served whole first and then sent as a stream: what reaches the
caller has passed the checks. Warn-only output checks run after the stream, on its text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from mloop.core.errors import MloopError, ValidationError
from mloop.llm.calls.log import CallLogWriter
from mloop.llm.config import GatewayConfig, TargetConfig
from mloop.llm.cost.budgets import BudgetGuard, Reservation
from mloop.llm.cost.estimate import CallEstimate, capped, estimate_chat, estimate_embeddings
from mloop.llm.cost.memory_ratelimit import InMemoryRateLimiter
from mloop.llm.cost.pricing import Price, PriceTable, compute_cost
from mloop.llm.cost.ratelimit import RateLimiter
from mloop.llm.errors import GuardrailBlockedError, ProviderError
from mloop.llm.gateway.caching import CacheLookup, GatewayCache
from mloop.llm.gateway.prompting import PromptResolver
from mloop.llm.gateway.record import Caller, CallState
from mloop.llm.guardrails.pipeline import GuardrailPipeline
from mloop.llm.providers.base import Provider
from mloop.llm.rollouts.checks import RouteRolloutEvaluator
from mloop.llm.rollouts.traffic import RouteTraffic, request_key
from mloop.llm.router import NoTargetLeft, Plan, Router
from mloop.llm.types import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult
from mloop.llm.usage import Usage

__all__ = ["Caller", "Gateway", "GatewayResponse", "GatewayStream"]


@dataclass
class GatewayResponse:
    """A complete answer: OpenAI-shaped ``body`` and mloop's ``x-mloop-*`` headers."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class GatewayStream:
    """A streaming answer: chunks to send as server-sent events, then ``[DONE]``.

    Whoever sends it calls :meth:`aclose` when done, however it ended: a caller that went
    away before the first chunk was read would otherwise leave the call unsettled, its
    budget reservation held and its provider stream open.
    """

    chunks: AsyncIterator[dict[str, Any]]
    headers: dict[str, str]
    on_close: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        """End the stream where it is: close the chunks, then settle the call if they never
        ran (idempotent)."""
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            await close()
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            await on_close()


class Gateway:
    """Serves requests for one configuration; create once per server, close on shutdown.

    Every component but the configuration and providers is optional, so tests and embedded
    uses can build a gateway with only what they exercise; :func:`build_gateway` builds the
    full one a server runs.
    """

    def __init__(
        self,
        config: GatewayConfig,
        providers: Mapping[str, Provider],
        *,
        log: CallLogWriter | None = None,
        prices: PriceTable | None = None,
        router: Router | None = None,
        cache: GatewayCache | None = None,
        budgets: BudgetGuard | None = None,
        rate_limits: RateLimiter | None = None,
        prompts: PromptResolver | None = None,
        rollouts: RouteTraffic | None = None,
        rollout_checks: RouteRolloutEvaluator | None = None,
        redis: Any = None,
    ) -> None:
        self.config = config
        self.providers = dict(providers)
        self.router = router or Router(self.providers, config.routes)
        self.log = log
        self.prices = prices or PriceTable.load(overrides_path=config.prices_path)
        self.cache = cache
        self.budgets = budgets or BudgetGuard(config.budgets)
        self.rate_limits = rate_limits or InMemoryRateLimiter(config.rate_limits)
        self.prompts = prompts
        self.rollouts = rollouts  # canaries of prompt versions and targets on routes
        self.rollout_checks = rollout_checks  # their background evaluator, closed with us
        self._redis = redis  # the client shared limits and budgets use, closed with the gateway
        self.guardrails: dict[str, GuardrailPipeline] = {
            name: GuardrailPipeline.from_config(
                route.guardrails, classify=self._classify, route=name
            )
            for name, route in config.routes.items()
        }
        self.alerts: list[dict[str, Any]] = []
        # Budget reservations of the calls in progress, by call id, settled in _account.
        self._reservations: dict[str, Reservation] = {}
        # Price lookups by (provider, model, day): the table answers the same all day.
        self._prices_today: dict[tuple[str, str, date], Price | None] = {}

    async def aclose(self) -> None:
        if self.rollout_checks is not None:
            await asyncio.to_thread(self.rollout_checks.close)
        for provider in self.providers.values():
            await provider.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        await self.rate_limits.flush()  # before the Redis client it may write with closes
        await self.budgets.drain()  # settlements still on their way to Redis
        if self._redis is not None:
            await self._redis.aclose()
        if self.log is not None:
            self.log.close()

    # -- models -----------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``: the routes, then each provider model a route uses."""
        out = [
            {"id": name, "object": "model", "created": 0, "owned_by": "mloop-route"}
            for name in sorted(self.config.routes)
        ]
        seen: set[str] = set()
        for route in self.config.routes.values():
            for t in route.targets:
                model_id = f"{t.provider}/{t.model}"
                if model_id not in seen:
                    seen.add(model_id)
                    out.append(
                        {"id": model_id, "object": "model", "created": 0, "owned_by": t.provider}
                    )
        return out

    # -- chat -------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, caller: Caller) -> GatewayResponse | GatewayStream:
        call = CallState.start("chat", request.model, caller, stream=request.stream)
        try:
            await self.rate_limits.acquire(caller.token_name)
            plan = self.router.plan(request.model)
            call.record.route = plan.route
            call.capture = plan.config.capture or self.config.capture
            request, plan, on_candidate_target = await self._apply_rollout(
                request, plan, caller, call
            )
            if request.prompt is not None:
                request = await self._render_prompt(request, call)
            if request.messages is None:
                raise ValidationError(
                    "send messages, or name a registered prompt with 'prompt'", field="messages"
                )
            call.capture_request(request)
            pipeline = self.guardrails.get(plan.route or "")
            if pipeline is not None and pipeline.has_input_checks:
                checked = await pipeline.check_input(request)
                call.add_guardrails(checked.decisions)
                error = checked.error()
                if error is not None:
                    raise error
                request = checked.request
            if self.budgets.blocks(plan.route, caller.token_name, caller.project):
                request = capped(request, plan.config)  # before the cache: it changes answers
            # A candidate target must answer itself: a cached answer of another would hide it.
            found = (
                None
                if on_candidate_target
                else await self._cache_lookup(request, plan, caller, call)
            )
            if found is not None and found.entry is not None:
                return self._cached(request, found, call)  # free: no budget applies
            await self._check_budgets(plan, caller, call, estimate_chat(request, plan.config))
            buffered = pipeline is not None and pipeline.output_needs_buffering
            if request.stream and not buffered:
                return await self._chat_stream(request, plan, call, pipeline, found)
            result = await self._chat_checked(request, plan, call, pipeline)
            await self._remember(found, result, call)
        except BaseException as exc:
            self._finish_error(call, exc)
            raise
        self._finish_ok(call, result)
        if request.stream:
            return GatewayStream(_as_chunks(result.body, _wants_usage(request)), call.headers())
        return GatewayResponse(body=result.body, headers=call.headers())

    async def _apply_rollout(
        self, request: ChatRequest, plan: Plan, caller: Caller, call: CallState
    ) -> tuple[ChatRequest, Plan, bool]:
        """The request and plan under the route's rollout, and whether the request goes to
        a candidate target (sent there alone, so its failures count against it)."""
        if self.rollouts is None or plan.route is None:
            return request, plan, False
        key = request_key(caller.headers, caller.token_name, call.record.id)
        arm = await self.rollouts.arm(plan.route, request.prompt, key)
        if arm is None:
            return request, plan, False
        rollout = arm.rollout
        call.record.metadata["rollout"] = {"id": rollout.id, "side": arm.side}
        if not arm.candidate:
            return request, plan, False
        if rollout.variant_kind == "prompt":
            name = (rollout.prompt or "").partition("@")[0]
            return request.model_copy(update={"prompt": f"{name}:{rollout.candidate}"}), plan, False
        provider, _, model = rollout.candidate.partition("/")
        if provider not in self.providers:
            call.record.metadata["rollout"]["side"] = "stable (unknown provider)"
            return request, plan, False
        target = TargetConfig(provider=provider, model=model)
        # Named before the call, so a failure is logged against the candidate.
        call.record.provider, call.record.model = provider, model
        call.record.cache = "bypass"
        return request, Plan(plan.route, plan.config, (target,)), True

    async def _render_prompt(self, request: ChatRequest, call: CallState) -> ChatRequest:
        if self.prompts is None:
            raise ValidationError(
                "this gateway has no prompt registry: send messages instead of 'prompt'",
                field="prompt",
            )
        request, name, version = await self.prompts.apply(request)
        call.record.prompt_name, call.record.prompt_version = name, version
        return request

    async def _check_budgets(
        self, plan: Plan, caller: Caller, call: CallState, estimate: CallEstimate
    ) -> None:
        """Reserve the call's estimated cost (the dearest target's) on its budgets, or raise
        BUDGET_EXCEEDED; _account settles it when the call ends, however it ends."""
        if not self.budgets.budgets:
            return
        usage = estimate.usage()
        costs = [self._cost(t.provider, t.model, usage) for t in plan.targets]
        usd = float(max((c for c in costs if c is not None), default=Decimal(0)))
        reservation = await self.budgets.reserve(plan.route, caller.token_name, caller.project, usd)
        self._reservations[call.record.id] = reservation
        for alert in reservation.alerts:
            call.record.metadata.setdefault("budget_alerts", []).append(alert.message)
            if alert.first:
                self.alerts.append({"time": call.record.time, "message": alert.message})

    async def _chat_checked(
        self,
        request: ChatRequest,
        plan: Plan,
        call: CallState,
        pipeline: GuardrailPipeline | None,
    ) -> ChatResult:
        """A complete answer that passed the output guardrails (re-asking or trying the next
        target as they say)."""
        excluded: set[tuple[str, str]] = set()
        reasks = 0
        while True:
            try:
                result, target = await self._chat_once(request, plan, call, excluded)
            except NoTargetLeft:
                raise GuardrailBlockedError(
                    "the output guardrails rejected the answer of every target of the route"
                ) from None
            if pipeline is None or not pipeline.has_output_checks:
                return result
            text = result.text()
            outcome = await pipeline.check_output(request, text, reasks_done=reasks)
            call.add_guardrails(outcome.decisions)
            if outcome.action == "pass":
                if outcome.text != text:
                    _set_text(result.body, outcome.text)
                return result
            error = outcome.error()
            if error is not None:
                raise error
            if outcome.action == "reask":
                request = pipeline.reask_request(request, text, outcome)
                reasks += 1
                call.record.metadata["reasks"] = reasks
            else:  # fallback
                excluded.add((target.provider, target.model))

    async def _chat_once(
        self,
        request: ChatRequest,
        plan: Plan,
        call: CallState,
        excluded: set[tuple[str, str]],
    ) -> tuple[ChatResult, TargetConfig]:
        async def attempt(provider: Provider, target: TargetConfig, timeout: float) -> ChatResult:
            return await provider.chat(request, target.model, timeout=timeout)

        result, target = await self.router.call(plan, call.attempts, attempt, exclude=excluded)
        call.first_token()
        call.record.provider, call.record.model = result.provider, result.model
        call.add_usage(result.usage, self._cost(result.provider, result.model, result.usage))
        return result, target

    async def _chat_stream(
        self,
        request: ChatRequest,
        plan: Plan,
        call: CallState,
        pipeline: GuardrailPipeline | None,
        found: CacheLookup | None,
    ) -> GatewayStream:
        def open_stream(
            provider: Provider, target: TargetConfig, timeout: float
        ) -> AsyncIterator[dict[str, Any]]:
            return provider.stream(request, target.model, timeout=timeout)

        first, rest, target = await self.router.stream(plan, call.attempts, open_stream)
        call.first_token()
        call.record.provider, call.record.model = target.provider, target.model

        async def abandoned() -> None:
            # The relay settles every ending it sees; this covers a relay that never started.
            if not call.submitted:
                self._finish_error(call, asyncio.CancelledError("the caller went away"))
            close = getattr(rest, "aclose", None)
            if close is not None:
                await close()

        return GatewayStream(
            chunks=self._relay(request, first, rest, plan, target, call, pipeline, found),
            headers=call.headers(),
            on_close=abandoned,
        )

    async def _relay(
        self,
        request: ChatRequest,
        first: dict[str, Any],
        rest: AsyncIterator[dict[str, Any]],
        plan: Plan,
        target: TargetConfig,
        call: CallState,
        pipeline: GuardrailPipeline | None,
        found: CacheLookup | None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Pass chunks on, assembling text and usage for the call record and the cache."""
        text: list[str] = []
        usage: dict[str, Any] | None = None
        finish: str | None = None
        want_usage = _wants_usage(request)
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if isinstance(delta.get("content"), str):
                        text.append(delta["content"])
                    finish = choice.get("finish_reason") or finish
                if chunk.get("usage"):
                    usage = chunk["usage"]
                    if not chunk.get("choices") and not want_usage:
                        chunk = await _next_or_none(rest)
                        continue  # the gateway asked for it; the caller did not
                yield chunk
                chunk = await _next_or_none(rest)
            body: dict[str, Any] = {
                "id": first.get("id", ""),
                "object": "chat.completion",
                "created": first.get("created", int(time.time())),
                "model": first.get("model", target.model),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(text)},
                        "finish_reason": finish,
                    }
                ],
            }
            parsed = Usage.from_openai(usage) if usage else Usage()
            if usage:
                body["usage"] = usage
            call.add_usage(parsed, self._cost(target.provider, target.model, parsed))
            if pipeline is not None and pipeline.has_output_checks:
                # Warn-only checks (anything stronger made the gateway buffer the stream).
                outcome = await pipeline.check_output(request, "".join(text))
                call.add_guardrails(outcome.decisions)
            result = ChatResult(body, parsed, target.provider, target.model)
            await self._remember(found, result, call)
        except ProviderError as exc:
            self.router.record_stream_failure(plan, target, exc)
            self._finish_error(call, exc)
            raise
        except BaseException as exc:  # the client went away, or the server shuts down
            self._finish_error(call, exc)
            raise
        self._finish_ok(call, result)

    # -- cache ------------------------------------------------------------------------------

    async def _cache_lookup(
        self, request: ChatRequest, plan: Plan, caller: Caller, call: CallState
    ) -> CacheLookup | None:
        if self.cache is None:
            call.record.cache = "off"
            return None
        decision = self.cache.decide(request, plan.route, caller.headers)
        call.record.cache = decision.log_status
        return await self.cache.lookup(request, plan.route, decision)

    def _cached(
        self, request: ChatRequest, found: CacheLookup, call: CallState
    ) -> GatewayResponse | GatewayStream:
        assert found.entry is not None
        entry = found.entry
        call.first_token()
        rec = call.record
        rec.cache, rec.saved_usd = found.kind, entry.cost_usd
        rec.provider, rec.model = entry.provider, entry.model
        if found.similarity is not None:
            rec.metadata["similarity"] = round(found.similarity, 4)
        body = dict(entry.body)
        self._finish_ok(call, body=body)
        if request.stream:
            return GatewayStream(_as_chunks(body, _wants_usage(request)), call.headers())
        return GatewayResponse(body=body, headers=call.headers())

    async def _remember(
        self, found: CacheLookup | None, result: ChatResult, call: CallState
    ) -> None:
        if self.cache is not None and found is not None:
            await self.cache.remember(
                found, result.body, float(call.cost), result.provider, result.model
            )

    # -- guardrail classifiers --------------------------------------------------------------

    async def _classify(self, route: str, messages: list[dict[str, Any]]) -> str:
        """What ``route`` answers to ``messages``: for classifier guardrails (Llama Guard...).
        It goes through the router (retries, fallbacks) but not through guardrails or cache."""
        request = ChatRequest.model_validate({"model": route, "messages": messages})
        plan = self.router.plan(route)
        call = CallState.start("chat", route, Caller(token_name="guardrail"), stream=False)
        call.record.route = plan.route
        call.record.metadata["purpose"] = "guardrail classifier"
        try:
            result, _ = await self._chat_once(request, plan, call, set())
        except BaseException as exc:
            self._finish_error(call, exc)
            raise
        self._finish_ok(call, result)
        return result.text()

    # -- embeddings -------------------------------------------------------------------------

    async def embeddings(self, request: EmbeddingRequest, caller: Caller) -> GatewayResponse:
        call = CallState.start("embeddings", request.model, caller, stream=False)
        try:
            await self.rate_limits.acquire(caller.token_name)
            plan = self.router.plan(request.model)
            call.record.route = plan.route
            await self._check_budgets(plan, caller, call, estimate_embeddings(request))

            async def attempt(
                provider: Provider, target: TargetConfig, timeout: float
            ) -> EmbeddingResult:
                return await provider.embed(request, target.model, timeout=timeout)

            result, _target = await self.router.call(plan, call.attempts, attempt)
            call.record.provider, call.record.model = result.provider, result.model
            call.add_usage(result.usage, self._cost(result.provider, result.model, result.usage))
        except BaseException as exc:
            self._finish_error(call, exc)
            raise
        self._finish_ok(call, result)
        return GatewayResponse(body=result.body, headers=call.headers())

    # -- the call record --------------------------------------------------------------------

    def record_rejected(
        self, endpoint: str, requested_model: str, caller: Caller, exc: BaseException
    ) -> None:
        """Store a request refused before it could be served (a malformed body)."""
        call = CallState.start(endpoint, requested_model[:256] or "?", caller, stream=False)
        self._finish_error(call, exc)

    def _cost(self, provider: str, model: str, usage: Usage) -> Decimal | None:
        config = self.config.providers.get(provider)
        kind = config.kind if config is not None else ""
        # Prices are listed under the public provider's name; OpenAI-compatible servers and
        # the simulated provider have none, Azure bills at OpenAI's list price.
        price_provider = {"azure": "openai"}.get(kind, kind)
        key = (price_provider, model, datetime.now(UTC).date())
        if key not in self._prices_today:
            if len(self._prices_today) > 10_000:
                self._prices_today.clear()
            try:
                self._prices_today[key] = self.prices.lookup(price_provider, model)
            except MloopError:
                self._prices_today[key] = None
        price = self._prices_today[key]
        return None if price is None else compute_cost(usage, price).total

    def _finish_ok(
        self,
        call: CallState,
        result: ChatResult | EmbeddingResult | None = None,
        *,
        body: dict[str, Any] | None = None,
    ) -> None:
        call.finish_ok()
        call.capture_response(result.body if result is not None else body or {})
        self._account(call)

    def _finish_error(self, call: CallState, exc: BaseException) -> None:
        call.finish_error(exc)
        self._account(call)

    def _account(self, call: CallState) -> None:
        if call.submitted:
            return
        call.submitted = True
        rec = call.record
        reservation = self._reservations.pop(rec.id, None)
        if reservation is not None:
            self.budgets.settle(reservation, rec.cost_usd)
        elif rec.cost_usd > 0:  # a guardrail classifier's call: not reserved
            self.budgets.record(rec.route, rec.token_name, rec.project, rec.cost_usd)
        tokens = rec.input_tokens + rec.output_tokens + rec.cached_input_tokens
        if tokens:
            self.rate_limits.record_tokens(rec.token_name, tokens)
        if self.log is not None:
            self.log.submit(rec)


def _set_text(body: dict[str, Any], text: str) -> None:
    choices = body.get("choices") or []
    if choices and isinstance(choices[0].get("message"), dict):
        choices[0]["message"]["content"] = text


def _wants_usage(request: ChatRequest) -> bool:
    return bool((request.stream_options or {}).get("include_usage"))


async def _next_or_none(iterator: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return None


async def _as_chunks(body: dict[str, Any], with_usage: bool) -> AsyncIterator[dict[str, Any]]:
    """A complete answer as ``chat.completion.chunk`` objects (a cached or checked answer
    sent to a caller that asked for a stream)."""
    base = {
        "id": body.get("id", ""),
        "object": "chat.completion.chunk",
        "created": body.get("created", int(time.time())),
        "model": body.get("model", ""),
    }
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": delta}]}
        yield {
            **base,
            "choices": [
                {
                    "index": choice.get("index", 0),
                    "delta": {},
                    "finish_reason": choice.get("finish_reason"),
                }
            ],
        }
    if with_usage and body.get("usage"):
        yield {**base, "choices": [], "usage": body["usage"]}
