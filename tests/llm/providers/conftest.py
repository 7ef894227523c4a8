"""One fake provider server for the adapter tests of a module, with a fresh script per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from mloop.llm.testing.fake_provider import FakeProvider

T = TypeVar("T")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProvider) -> Iterator[FakeProvider]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (the suite has no async test plugin)."""
    return asyncio.run(coro)


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]
