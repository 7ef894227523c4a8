"""Pipelines test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mloop.pipelines import LocalExecutor


@pytest.fixture(scope="module")
def local() -> Iterator[LocalExecutor]:
    """Two worker processes shared by a module's tests (starting them costs ~0.1 s)."""
    executor = LocalExecutor(workers=2)
    executor.start()
    yield executor
    executor.shutdown()
