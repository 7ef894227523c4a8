"""Fixtures for the gateway: a fake provider on loopback and an mloop server whose gateway
configuration points at it, driven with the stock ``openai`` client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from tests.conftest import ServerHandle

from mloop.llm.calls.tables import llm_calls
from mloop.llm.testing.fake_provider import FakeProvider
from mloop.store.runtime import Runtime

PROVIDER_KEY = "sk-test-very-secret-provider-key-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def gateway_config(fake: FakeProvider, **routes: Any) -> dict[str, Any]:
    """Two OpenAI-style providers and an Anthropic one on the fake, and a default route."""
    config: dict[str, Any] = {
        "providers": {
            "primary": {
                "kind": "openai_compatible",
                "base_url": fake.openai_base_url,
                "api_key_env": "FAKE_PROVIDER_KEY",
            },
            "backup": {"kind": "openai_compatible", "base_url": fake.openai_base_url},
            "claude": {
                "kind": "anthropic",
                "base_url": fake.anthropic_base_url,
                "api_key_env": "FAKE_PROVIDER_KEY",
            },
        },
        "routes": {
            "support-reply": {
                "targets": [
                    {"provider": "primary", "model": "gpt-4o-mini"},
                    {"provider": "backup", "model": "gpt-4o", "weight": 0},
                ],
                "retries": 1,
                # Generous: the passing path must not time out on a loaded machine; a test
                # about a hang sets its own.
                "timeout_seconds": 30,
                "backoff": {"initial_seconds": 0.01, "max_seconds": 2},
            },
            **routes,
        },
    }
    return config


@pytest.fixture
def start_gateway(
    runtime: Runtime, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ServerHandle]]:
    """Start a server whose gateway reads ``config`` (default: :func:`gateway_config`)."""
    handles: list[ServerHandle] = []
    monkeypatch.setenv("FAKE_PROVIDER_KEY", PROVIDER_KEY)

    def start(config: dict[str, Any] | None = None, *, auth_enabled: bool = False) -> ServerHandle:
        path = runtime.settings.home / "gateway.yaml"
        path.write_text(yaml.safe_dump(config or gateway_config(fake)))
        monkeypatch.setenv("MLOOP_GATEWAY_CONFIG", str(path))
        handle = ServerHandle(runtime, auth_enabled=auth_enabled).start()
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


def calls(handle: ServerHandle) -> list[dict[str, Any]]:
    """Every stored call, oldest first, after the background writer has caught up."""
    handle.app.state.gateway.get().log.flush()
    with handle.runtime.db.engine.connect() as conn:
        rows = conn.execute(sa.select(llm_calls).order_by(llm_calls.c.time)).mappings().all()
    return [dict(r) for r in rows]
