"""Building the gateway a server runs: its configuration, providers, cache, limits and log.

With a configuration file (``MLOOP_GATEWAY_CONFIG`` or ``MLOOP_HOME/gateway.yaml``) the
gateway serves exactly what it declares. Without one it serves the providers whose keys are in
the environment, each model named directly (``openai/gpt-4o-mini``): ``OPENAI_API_KEY``
(and ``OPENAI_BASE_URL`` for an OpenAI-compatible server), ``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from mloop.llm.cache.factory import open_cache_store
from mloop.llm.cache.semantic import SemanticCache
from mloop.llm.calls.log import CallLogWriter
from mloop.llm.config import GatewayConfig, ProviderConfig, config_path
from mloop.llm.cost.budgets import BudgetGuard, RedisBudgetCounters
from mloop.llm.cost.memory_ratelimit import InMemoryRateLimiter
from mloop.llm.cost.ratelimit import RateLimiter
from mloop.llm.cost.spend import current_spend
from mloop.llm.gateway.caching import GatewayCache
from mloop.llm.gateway.prompting import PromptResolver
from mloop.llm.gateway.service import Gateway
from mloop.llm.providers.base import Provider
from mloop.llm.rollouts.checks import RouteRolloutEvaluator
from mloop.llm.rollouts.traffic import RouteTraffic
from mloop.llm.router import Attempts, Router
from mloop.llm.types import EmbeddingRequest, EmbeddingResult
from mloop.store.runtime import Runtime


def config_from_environment(env: Mapping[str, str] | None = None) -> GatewayConfig:
    """The configuration used when there is no file: one provider per key found."""
    env = os.environ if env is None else env
    providers: dict[str, ProviderConfig] = {}
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        base_url = env.get("OPENAI_BASE_URL") or None
        providers["openai"] = ProviderConfig(
            kind="openai" if env.get("OPENAI_API_KEY") and not base_url else "openai_compatible",
            base_url=base_url,
            api_key_env="OPENAI_API_KEY" if env.get("OPENAI_API_KEY") else None,
        )
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = ProviderConfig(kind="anthropic", api_key_env="ANTHROPIC_API_KEY")
    return GatewayConfig(providers=providers)


def load_config(runtime: Runtime) -> GatewayConfig:
    path = config_path(runtime.settings.home)
    return GatewayConfig.from_file(path) if path else config_from_environment()


def build_providers(config: GatewayConfig, runtime: Runtime) -> dict[str, Provider]:
    from mloop.llm.providers.registry import build_provider
    from mloop.llm.secrets import SecretStore

    secrets = SecretStore(runtime)
    return {
        name: build_provider(name, provider, secrets=secrets)
        for name, provider in config.providers.items()
    }


def _embedder(router: Router, model: str) -> Any:
    """An embedding function for the semantic cache over the gateway's own providers."""

    async def embed(texts: list[str]) -> list[np.ndarray]:
        plan = router.plan(model)
        request = EmbeddingRequest(model=model, input=texts)

        async def attempt(provider: Provider, target: Any, timeout: float) -> EmbeddingResult:
            return await provider.embed(request, target.model, timeout=timeout)

        result, _ = await router.call(plan, Attempts(), attempt)
        return [np.asarray(item["embedding"], dtype=np.float32) for item in result.body["data"]]

    return embed


def build_gateway(runtime: Runtime, config: GatewayConfig | None = None) -> Gateway:
    """The full gateway for ``runtime``: configuration, providers, cache, budgets loaded with
    today's and this month's spend, rate limits, prompts and the call log writer."""
    config = config or load_config(runtime)
    providers = build_providers(config, runtime)
    router = Router(providers, config.routes)
    store = open_cache_store(config.cache_backend, runtime.settings.home, config.redis_pool)
    semantic = {}
    for name, route in config.routes.items():
        settings = (route.cache or config.cache).semantic
        if settings.enabled:
            semantic[name] = SemanticCache(
                store,
                _embedder(router, settings.embedding_model),
                threshold=settings.threshold,
                max_entries=settings.max_entries,
                max_text_chars=settings.max_text_chars,
            )
    cache = GatewayCache(
        store,
        config.cache,
        {name: route.cache for name, route in config.routes.items()},
        semantic,
    )
    redis_client = None
    rate_limits: RateLimiter
    if config.redis_url:
        # Imported on use: redis is an optional extra.
        from mloop.llm.cost.redis_ratelimit import RedisRateLimiter
        from mloop.llm.redis_client import RedisHealth, open_redis

        # A waiting pool sized by redis_pool: the client's default pool raises
        # MaxConnectionsError beyond its size, which made bursts of requests fail.
        redis_client = open_redis(config.redis_url, config.redis_pool)
        health = RedisHealth(
            "rate limits",
            "this process's own counters",
            down_seconds=config.redis_pool.down_seconds,
        )
        rate_limits = RedisRateLimiter(config.rate_limits, redis_client, health=health)
    else:
        rate_limits = InMemoryRateLimiter(config.rate_limits)
    budgets = BudgetGuard(
        config.budgets,
        shared=RedisBudgetCounters(redis_client) if redis_client is not None else None,
    )
    if config.budgets:
        windows = budgets.windows()
        budgets.load(runtime.run(lambda ctx: current_spend(ctx, windows), write=False))
    # The gateway's process checks the route rollouts it applies (one check per rollout and
    # interval across replicas).
    rollout_checks = RouteRolloutEvaluator(runtime)
    rollout_checks.start()
    return Gateway(
        config,
        providers,
        log=CallLogWriter(runtime),
        router=router,
        cache=cache,
        budgets=budgets,
        rate_limits=rate_limits,
        prompts=PromptResolver(runtime),
        rollouts=RouteTraffic(runtime),
        rollout_checks=rollout_checks,
        redis=redis_client,
    )


class GatewayHolder:
    """Builds the server's gateway on first use (a broken configuration then shows up as an
    error of the gateway's requests, not as a server that will not start) and closes it."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._gateway: Gateway | None = None
        self._lock = threading.Lock()

    def get(self) -> Gateway:
        gateway = self._gateway
        if gateway is None:
            with self._lock:
                if self._gateway is None:
                    self._gateway = build_gateway(self._runtime)
                gateway = self._gateway
        return gateway

    def set(self, gateway: Gateway) -> None:
        """Serve ``gateway`` (tests and embedded uses that build their own)."""
        self._gateway = gateway

    async def aclose(self) -> None:
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.aclose()

    def close(self) -> None:
        """Close from synchronous code with no running loop."""
        if self._gateway is not None:
            asyncio.run(self.aclose())
