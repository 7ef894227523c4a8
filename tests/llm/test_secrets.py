"""Encrypted provider keys and how providers are built with them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from mloop.core.config import Settings
from mloop.core.errors import NotFoundError, ValidationError
from mloop.llm.calls.tables import llm_secrets
from mloop.llm.config import ProviderConfig
from mloop.llm.providers.anthropic import AnthropicProvider
from mloop.llm.providers.local_embeddings import LocalEmbeddingsProvider
from mloop.llm.providers.openai import AzureOpenAIProvider, OpenAICompatibleProvider, OpenAIProvider
from mloop.llm.providers.registry import build_provider
from mloop.llm.providers.simulated import SimulatedProvider
from mloop.llm.secrets import KEY_ENV, SecretKeyError, SecretStore, load_fernet
from mloop.store.runtime import Runtime

VALUE = "sk-proj-0123456789abcdefSECRET"


@pytest.fixture
def store(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> SecretStore:
    monkeypatch.delenv(KEY_ENV, raising=False)
    return SecretStore(runtime)


def _ciphertexts(runtime: Runtime) -> list[str]:
    return runtime.run(
        lambda ctx: list(ctx.conn.execute(select(llm_secrets.c.ciphertext)).scalars()), write=False
    )


def test_set_get_list_delete(store: SecretStore, runtime: Runtime) -> None:
    assert store.set("openai-key", VALUE) is True
    assert store.get("openai-key") == VALUE
    (info,) = store.list()
    assert info.name == "openai-key" and info.creation_time == info.last_update_time
    assert VALUE not in repr(info) and VALUE not in repr(store)
    (ciphertext,) = _ciphertexts(runtime)
    assert VALUE not in ciphertext and "0123456789" not in ciphertext

    assert store.set("openai-key", VALUE + "-2") is False  # replaced, not duplicated
    assert store.get("openai-key") == VALUE + "-2"
    (info2,) = store.list()
    assert (
        info2.creation_time == info.creation_time
        and info2.last_update_time >= info.last_update_time
    )

    store.delete("openai-key")
    assert store.list() == []
    with pytest.raises(NotFoundError, match="no secret named 'openai-key'"):
        store.get("openai-key")
    with pytest.raises(NotFoundError, match="no secret named 'openai-key'"):
        store.delete("openai-key")


def test_key_file_is_created_private_once(store: SecretStore, settings: Settings) -> None:
    store.set("a", "1")
    path = settings.home / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    Fernet(content.strip())  # a valid key
    store.set("b", "2")
    assert path.read_bytes() == content  # kept, not regenerated
    # A new process (a new store) reads the same file and decrypts.
    assert SecretStore(store._runtime).get("a") == "1"


def test_env_key_is_used_and_no_file_is_written(
    runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    SecretStore(runtime).set("a", VALUE)
    assert not (settings.home / "secret.key").exists()
    assert SecretStore(runtime).get("a") == VALUE


def test_wrong_key_fails_clearly(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    SecretStore(runtime).set("openai-key", VALUE)
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(SecretKeyError) as info:
        SecretStore(runtime).get("openai-key")
    message = str(info.value)
    assert "cannot be decrypted" in message and "mloop gateway secrets set openai-key" in message
    assert VALUE not in message


def test_malformed_env_key_is_refused_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-fernet-key-but-secret-material")
    with pytest.raises(SecretKeyError) as info:
        load_fernet(tmp_path)
    assert KEY_ENV in str(info.value) and "secret-material" not in str(info.value)


def test_corrupt_key_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    (tmp_path / "secret.key").write_text("garbage\n")
    with pytest.raises(SecretKeyError, match=r"secret\.key is not a Fernet key"):
        load_fernet(tmp_path)


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "a/b", "x" * 129, "ünï"])
def test_bad_names_are_refused(store: SecretStore, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.set(name, VALUE)
    assert info.value.field == "name"


def test_bad_values_are_refused(store: SecretStore) -> None:
    with pytest.raises(ValidationError, match="empty"):
        store.set("k", "")
    with pytest.raises(ValidationError, match="limit"):
        store.set("k", "x" * 20_000)
    assert store.list() == []


def test_listing_creates_no_key_file(store: SecretStore, settings: Settings) -> None:
    assert store.list() == []
    assert not (settings.home / "secret.key").exists()


# -- build_provider ----------------------------------------------------------------------


def test_build_provider_reads_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_OPENAI_KEY", VALUE)
    provider = build_provider(
        "openai", ProviderConfig(kind="openai", api_key_env="MY_OPENAI_KEY"), secrets=None
    )
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider._key == VALUE and VALUE not in repr(provider)


def test_build_provider_defaults_to_the_usual_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", VALUE)
    provider = build_provider("claude", ProviderConfig(kind="anthropic"), secrets=None)
    assert isinstance(provider, AnthropicProvider) and provider._key == VALUE


def test_build_provider_reads_a_stored_secret(store: SecretStore) -> None:
    store.set("azure-key", VALUE)
    config = ProviderConfig(
        kind="azure",
        base_url="https://res.openai.azure.com",
        api_version="2024-10-21",
        api_key_secret="azure-key",
    )
    provider = build_provider("azure", config, secrets=store)
    assert isinstance(provider, AzureOpenAIProvider) and provider._key == VALUE


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (ProviderConfig(kind="openai", api_key_env="MISSING_KEY_VAR"), "MISSING_KEY_VAR"),
        (ProviderConfig(kind="openai"), "OPENAI_API_KEY"),
        (ProviderConfig(kind="anthropic"), "ANTHROPIC_API_KEY"),
        (
            ProviderConfig(kind="azure", base_url="https://r.openai.azure.com", api_version="v"),
            "AZURE_OPENAI_API_KEY",
        ),
        (
            ProviderConfig(
                kind="openai_compatible",
                base_url="http://127.0.0.1:1/v1",
                api_key_env="MISSING_KEY_VAR",
            ),
            "MISSING_KEY_VAR",
        ),
    ],
)
def test_missing_keys_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, config: ProviderConfig, named: str
) -> None:
    for var in ("MISSING_KEY_VAR", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValidationError) as info:
        build_provider("p", config, secrets=None)
    assert named in str(info.value) and "mloop gateway secrets set" in str(info.value)


def test_missing_secret_names_it(store: SecretStore) -> None:
    with pytest.raises(NotFoundError, match="no secret named 'nope'"):
        build_provider("p", ProviderConfig(kind="openai", api_key_secret="nope"), secrets=store)
    with pytest.raises(ValidationError, match="api_key_secret"):
        build_provider("p", ProviderConfig(kind="openai", api_key_secret="nope"), secrets=None)


def test_keyless_kinds_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    vllm = build_provider(
        "vllm",
        ProviderConfig(kind="openai_compatible", base_url="http://127.0.0.1:8000/v1"),
        secrets=None,
    )
    assert isinstance(vllm, OpenAICompatibleProvider) and vllm._key is None
    sim = build_provider(
        "demo", ProviderConfig(kind="simulated", latency_seconds=0.5), secrets=None
    )
    assert isinstance(sim, SimulatedProvider) and sim.latency_seconds == 0.5
    local = build_provider("local", ProviderConfig(kind="local_embeddings"), secrets=None)
    assert isinstance(local, LocalEmbeddingsProvider)


def test_environment_is_not_modified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", VALUE)
    before = dict(os.environ)
    build_provider("openai", ProviderConfig(kind="openai"), secrets=None)
    assert dict(os.environ) == before
