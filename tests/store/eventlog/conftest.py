"""Fixtures of the event log tests: a runtime whose artifacts are local or on S3 (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mloop.store.artifacts import ArtifactStore
from mloop.store.runtime import Runtime

pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")


@pytest.fixture(params=["local", "s3"])
def any_runtime(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[Runtime]:
    """The test store's runtime, with its artifacts on the local disk or on S3."""
    if request.param == "local":
        yield runtime
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    artifacts = ArtifactStore(
        f"s3://mloop-test/eventlog-{uuid.uuid4().hex}", s3_endpoint_url=endpoint
    )
    yield Runtime(settings=runtime.settings, db=runtime.db, artifacts=artifacts)
