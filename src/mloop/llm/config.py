"""The gateway configuration: providers, routes, cache, budgets and rate limits.

It is one YAML file, ``MLOOP_GATEWAY_CONFIG`` or ``MLOOP_HOME/gateway.yaml``::

    providers:
      openai: {kind: openai, api_key_env: OPENAI_API_KEY}
      claude: {kind: anthropic, api_key_secret: anthropic-key}
      vllm: {kind: openai_compatible, base_url: "http://127.0.0.1:8000/v1"}
    routes:
      support-reply:
        targets:
          - {provider: openai, model: gpt-4o-mini, weight: 3}
          - {provider: claude, model: claude-3-5-haiku-latest, weight: 1}
          - {provider: vllm, model: llama-3.1-8b}       # weight 0: fallback only
        retries: 2
        timeout_seconds: 30

Keys are never written into this file: ``api_key_env`` names an environment variable and
``api_key_secret`` an encrypted setting (``mloop gateway secrets set``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from mloop.core.errors import ValidationError
from mloop.llm.cache.config import CacheBackendConfig, CacheConfig
from mloop.llm.cost.config import BudgetConfig, RateLimitConfig
from mloop.llm.guardrails.config import GuardrailsConfig
from mloop.llm.redis_client import RedisPoolConfig

ProviderKind = Literal[
    "openai", "anthropic", "azure", "openai_compatible", "local_embeddings", "simulated"
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class ProviderConfig(BaseModel):
    """One provider. ``base_url`` defaults to the provider's public API."""

    model_config = ConfigDict(extra="forbid")

    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_secret: str | None = None
    # Azure OpenAI: the API version; the model of a target is the deployment name.
    api_version: str | None = None
    # Extra headers sent with every request (for example an OpenRouter referer).
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(default=100, ge=1, le=10_000)
    # local_embeddings: the sentence-transformers model directory (default: the packaged
    # all-MiniLM-L6-v2); simulated: latency in seconds per answer.
    model_path: str | None = None
    latency_seconds: float = Field(default=0.0, ge=0, le=60)

    @model_validator(mode="after")
    def _one_key_source(self) -> ProviderConfig:
        if self.api_key_env and self.api_key_secret:
            raise ValueError("give api_key_env or api_key_secret, not both")
        if self.kind == "azure" and not (self.base_url and self.api_version):
            raise ValueError("an azure provider needs base_url and api_version")
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("an openai_compatible provider needs base_url")
        return self


class TargetConfig(BaseModel):
    """A provider model a route can send a request to."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(pattern=_NAME)
    model: str = Field(min_length=1, max_length=256)
    # Share of first attempts; 0 makes the target a fallback only.
    weight: float = Field(default=1.0, ge=0)


class BackoffConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_seconds: float = Field(default=0.25, ge=0, le=60)
    max_seconds: float = Field(default=8.0, ge=0, le=600)
    multiplier: float = Field(default=2.0, ge=1, le=10)
    jitter: bool = True


class CooldownConfig(BaseModel):
    """A target that fails ``failures`` times in a row is skipped for ``seconds``."""

    model_config = ConfigDict(extra="forbid")

    failures: int = Field(default=3, ge=1)
    seconds: float = Field(default=30.0, ge=0)


class RouteConfig(BaseModel):
    """A named route: targets in order of preference, with weights for the first attempt."""

    model_config = ConfigDict(extra="forbid")

    targets: list[TargetConfig] = Field(min_length=1, max_length=32)
    retries: int = Field(default=2, ge=0, le=10)
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)
    cooldown: CooldownConfig = Field(default_factory=CooldownConfig)
    cache: CacheConfig | None = None
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    # Content capture in the call log: full, redacted (PII replaced) or none.
    capture: Literal["full", "redacted", "none"] | None = None
    # Output tokens a budget reserves for a request without max_tokens; under a block budget
    # the gateway also sends it as the request's cap, in the parameter cap_output names
    # ("none": send nothing, and the budget's bound no longer holds for such requests).
    reserve_output_tokens: int = Field(default=1024, ge=1, le=1_000_000)
    cap_output: Literal["max_tokens", "max_completion_tokens", "none"] = "max_tokens"
    description: str = ""

    @model_validator(mode="after")
    def _some_weight(self) -> RouteConfig:
        if not any(t.weight > 0 for t in self.targets):
            raise ValueError("at least one target needs a weight above 0")
        return self


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    cache_backend: CacheBackendConfig = Field(default_factory=CacheBackendConfig)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    rate_limits: list[RateLimitConfig] = Field(default_factory=list)
    capture: Literal["full", "redacted", "none"] = "redacted"
    # Several gateway replicas share rate limits and budget counters through this Redis
    # (``redis://127.0.0.1:6379/0``); without it each process counts on its own.
    redis_url: str | None = None
    # The connection pools of the Redis clients (``redis_url`` and a Redis ``cache_backend``):
    # size, waits and timeouts; see mloop.llm.redis_client.
    redis_pool: RedisPoolConfig = Field(default_factory=RedisPoolConfig)
    # Price overrides, a file in the format of mloop/llm/cost/prices.yaml; a relative path
    # in a configuration file is read from that file's folder.
    prices_path: str | None = None

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        import re

        for name in [*self.providers, *self.routes]:
            if not re.match(_NAME, name):
                raise ValueError(
                    f"name {name!r}: use letters, digits, '.', '_' and '-' (at most 128)"
                )
        for route_name, route in self.routes.items():
            for i, target in enumerate(route.targets):
                if target.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f"routes.{route_name}.targets[{i}].provider: unknown provider "
                        f"{target.provider!r} (configured: {known})"
                    )
        clash = set(self.routes) & set(self.providers)
        if clash:
            raise ValueError(
                f"{sorted(clash)} name both a route and a provider; a request's model must "
                f"be unambiguous"
            )
        return self

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> GatewayConfig:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValidationError(f"{source}: the gateway configuration must be a mapping")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ValidationError(
                f"{source}: {where}: {first['msg']}"
                + (f" ({len(exc.errors()) - 1} more errors)" if len(exc.errors()) > 1 else ""),
                field=where,
            ) from None

    @classmethod
    def from_file(cls, path: str | Path) -> GatewayConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValidationError(f"gateway configuration {path} does not exist") from None
        except OSError as exc:
            raise ValidationError(f"cannot read gateway configuration {path}: {exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            raise ValidationError(f"{path}:{line} is not valid YAML: {exc}") from None
        config = cls.from_dict(data, source=str(path))
        if config.prices_path and not Path(config.prices_path).expanduser().is_absolute():
            # Beside the configuration, so a folder holding both can move as a whole.
            config.prices_path = str(path.parent / config.prices_path)
        return config


def config_path(home: Path) -> Path | None:
    """The configuration file the server reads, or None when there is none."""
    explicit = os.environ.get("MLOOP_GATEWAY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    default = home / "gateway.yaml"
    return default if default.exists() else None
