"""Building a provider adapter from its configuration, with its key resolved."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mloop.core.errors import ValidationError
from mloop.llm.providers.base import Provider

if TYPE_CHECKING:
    from mloop.llm.config import ProviderConfig
    from mloop.llm.secrets import SecretStore

# Kinds that cannot work without a key: a missing one is a configuration error at start-up,
# not a 401 on the first request.
_KEY_REQUIRED = frozenset({"openai", "anthropic", "azure"})
_DEFAULT_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
}


def resolve_key(name: str, config: ProviderConfig, secrets: SecretStore | None) -> str | None:
    """The key of provider ``name``: from ``api_key_env``, ``api_key_secret``, or, for
    openai/anthropic/azure with neither, the kind's usual variable (``OPENAI_API_KEY`` ...)."""
    where = f"providers.{name}"
    if config.api_key_secret:
        if secrets is None:
            raise ValidationError(
                f"{where}.api_key_secret: no secret store is open to read "
                f"{config.api_key_secret!r} from",
                field=f"{where}.api_key_secret",
            )
        return secrets.get(config.api_key_secret)
    env = config.api_key_env or _DEFAULT_ENV.get(config.kind)
    if env is None:
        return None
    value = os.environ.get(env, "").strip()
    if value:
        return value
    # An explicitly named variable that is unset is a mistake for every kind.
    if config.kind in _KEY_REQUIRED or config.api_key_env:
        field = f"{where}.api_key_env" if config.api_key_env else where
        raise ValidationError(
            f"{where}: the {config.kind} key is missing: set the environment variable {env}, "
            f"or store it with `mloop gateway secrets set NAME` and give api_key_secret: NAME",
            field=field,
        )
    return None


def build_provider(name: str, config: ProviderConfig, *, secrets: SecretStore | None) -> Provider:
    """The adapter for ``config.kind``, ready to serve (its HTTP pool opens lazily)."""
    from mloop.llm.providers.anthropic import AnthropicProvider
    from mloop.llm.providers.local_embeddings import LocalEmbeddingsProvider
    from mloop.llm.providers.openai import (
        AzureOpenAIProvider,
        OpenAICompatibleProvider,
        OpenAIProvider,
    )
    from mloop.llm.providers.simulated import SimulatedProvider

    if config.kind == "simulated":
        return SimulatedProvider(name, latency_seconds=config.latency_seconds)
    if config.kind == "local_embeddings":
        return LocalEmbeddingsProvider(name, model_path=config.model_path)
    key = resolve_key(name, config, secrets)
    if config.kind == "azure":
        return AzureOpenAIProvider(
            name,
            api_key=key,
            base_url=config.base_url,
            api_version=config.api_version or "",
            headers=config.headers,
            max_connections=config.max_connections,
        )
    http_classes: dict[str, type[OpenAIProvider | OpenAICompatibleProvider | AnthropicProvider]] = {
        "openai": OpenAIProvider,
        "openai_compatible": OpenAICompatibleProvider,
        "anthropic": AnthropicProvider,
    }
    cls = http_classes.get(config.kind)
    if cls is None:
        raise ValidationError(
            f"providers.{name}.kind: unknown kind {config.kind!r}", field=f"providers.{name}.kind"
        )
    return cls(
        name,
        api_key=key,
        base_url=config.base_url,
        headers=config.headers,
        max_connections=config.max_connections,
    )
