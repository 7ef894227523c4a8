"""Cache decisions: modes and the x-mloop-cache headers."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.core.errors import ValidationError
from mloop.llm.cache import CacheConfig, decide
from mloop.llm.types import ChatRequest, EmbeddingRequest


def _req(**fields: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "r", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


DETERMINISTIC = _req(temperature=0)
SEEDED = _req(seed=3, temperature=1)
RANDOM = _req(temperature=0.7)
DEFAULT_TEMPERATURE = _req()


def test_auto_caches_only_deterministic_requests() -> None:
    config = CacheConfig()
    for request in (DETERMINISTIC, SEEDED):
        d = decide(request, config, {})
        assert (d.read, d.write) == (True, True)
        assert d.ttl == config.ttl_seconds and d.namespace == "default"
        assert d.log_status == "miss"
    for request in (RANDOM, DEFAULT_TEMPERATURE):
        d = decide(request, config, {})
        assert (d.read, d.write) == (False, False)
        assert d.log_status == "off"
        assert "deterministic" in d.reason


def test_auto_caches_embeddings() -> None:
    d = decide(EmbeddingRequest(model="e", input="x"), CacheConfig(), {})
    assert d.read and d.write


def test_on_caches_everything_and_off_nothing() -> None:
    assert decide(RANDOM, CacheConfig(mode="on"), {}).write
    off = CacheConfig(mode="off")
    for headers in ({}, {"x-mloop-cache": "force"}, {"x-mloop-cache": "refresh"}):
        d = decide(DETERMINISTIC, off, headers)
        assert (d.read, d.write, d.log_status) == (False, False, "off")


@pytest.mark.parametrize(
    ("header", "read", "write", "status"),
    [
        ("bypass", False, False, "bypass"),
        ("refresh", False, True, "miss"),
        ("no-store", True, False, "miss"),
        ("force", True, True, "miss"),
        ("  Refresh ", False, True, "miss"),
        ("refresh, no-store", False, False, "bypass"),
    ],
)
def test_directives_on_a_deterministic_request(
    header: str, read: bool, write: bool, status: str
) -> None:
    d = decide(DETERMINISTIC, CacheConfig(), {"x-mloop-cache": header})
    assert (d.read, d.write, d.log_status) == (read, write, status)


def test_force_caches_a_random_request_and_combines() -> None:
    config = CacheConfig()
    assert decide(RANDOM, config, {"x-mloop-cache": "force"}).read
    d = decide(RANDOM, config, {"X-Mloop-Cache": "force, refresh"})
    assert (d.read, d.write) == (False, True)
    d = decide(RANDOM, config, {"x-mloop-cache": "force,no-store"})
    assert (d.read, d.write) == (True, False)
    # refresh alone does not make a random request cacheable
    d = decide(RANDOM, config, {"x-mloop-cache": "refresh"})
    assert (d.read, d.write) == (False, False)


def test_headers_are_case_insensitive() -> None:
    d = decide(DETERMINISTIC, CacheConfig(), {"X-MLOOP-CACHE": "BYPASS"})
    assert d.log_status == "bypass"


def test_ttl_header_overrides_within_the_maximum() -> None:
    config = CacheConfig(ttl_seconds=60, max_ttl_seconds=3600)
    assert decide(DETERMINISTIC, config, {"x-mloop-cache-ttl": "120"}).ttl == 120
    assert decide(DETERMINISTIC, config, {"x-mloop-cache-ttl": "99999999"}).ttl == 3600


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "abc", "", "\uff11\uff12", "9" * 40])
def test_bad_ttl_header_names_the_header(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        decide(DETERMINISTIC, CacheConfig(), {"x-mloop-cache-ttl": value})
    assert info.value.field == "x-mloop-cache-ttl"
    assert "x-mloop-cache-ttl" in info.value.message


def test_namespace_header() -> None:
    d = decide(DETERMINISTIC, CacheConfig(), {"x-mloop-cache-namespace": "tenant-7.eu"})
    assert d.namespace == "tenant-7.eu"


@pytest.mark.parametrize(
    "value", ["", "a:b", "a b", "../x", "-lead", "x" * 129, "ns*", "ü", "a\nb"]
)
def test_bad_namespace_header_names_the_header(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        decide(DETERMINISTIC, CacheConfig(), {"x-mloop-cache-namespace": value})
    assert info.value.field == "x-mloop-cache-namespace"


@pytest.mark.parametrize("value", ["sometimes", "bypass, force", "force;refresh", "x" * 300])
def test_bad_directive_names_the_header(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        decide(DETERMINISTIC, CacheConfig(), {"x-mloop-cache": value})
    assert info.value.field == "x-mloop-cache"


def test_bad_headers_fail_even_when_the_cache_is_off() -> None:
    with pytest.raises(
        ValidationError, match="x-mloop-cache-ttl must be a whole number of seconds, got 'soon'"
    ):
        decide(DETERMINISTIC, CacheConfig(mode="off"), {"x-mloop-cache-ttl": "soon"})


def test_config_rejects_ttl_above_maximum_and_bad_namespace() -> None:
    from pydantic import ValidationError as PydanticError

    with pytest.raises(PydanticError, match="max_ttl_seconds"):
        CacheConfig(ttl_seconds=100, max_ttl_seconds=10)
    with pytest.raises(PydanticError, match=r"namespace\s+String should match pattern"):
        CacheConfig(namespace="a:b")
