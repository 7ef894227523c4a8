"""The latest value of a metric does not depend on how its values were batched.

A run shows, for each metric, the value with the highest step, then the latest timestamp,
then the larger value, NaN lowest (docs/tracking.md; ``ingest._update_latest``); values
equal on all three (NaN and -inf, 0.0 and -0.0, or the same value twice) leave the one
logged last. Hypothesis draws a sequence of values for two keys and a split of it into
batches, and logs it embedded (the operation itself), through a real server with the
client's synchronous ``log_batch``, through the client's background queue (``log_metric``
then ``flush``, which batches as it likes), and replayed from the client's spool (each batch
spooled as while the server was away, then sent in order). Every way must show the value the
rule picks from the whole sequence.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.conftest import ServerHandle

import mloop
from mloop.client.connection import backend_for
from mloop.client.remote import RemoteBackend
from mloop.core.config import Settings
from mloop.core.timeutil import now_ms
from mloop.store.runtime import Runtime, open_runtime
from mloop.tracking import ingest, runs
from mloop.tracking.schemas import CreateRun, LogBatch, MetricIn, RunId

Point = tuple[str, float, int, int]  # key, value, step, timestamp

POINTS = st.tuples(
    st.sampled_from(["loss", "acc"]),
    st.one_of(
        st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0]),  # ties on purpose
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    st.integers(min_value=0, max_value=3),  # few steps and timestamps: many ties
    st.integers(min_value=0, max_value=3),
)


@st.composite
def split_sequences(draw: st.DrawFn) -> tuple[list[Point], list[list[Point]]]:
    """A sequence and the same sequence cut into consecutive, non-empty batches."""
    points = draw(st.lists(POINTS, min_size=1, max_size=12))
    cuts: list[int] = []
    if len(points) > 1:
        inner = st.integers(min_value=1, max_value=len(points) - 1)
        cuts = sorted(draw(st.sets(inner, max_size=4)))
    bounds = [0, *cuts, len(points)]
    return points, [points[a:b] for a, b in itertools.pairwise(bounds)]


def expected_latest(points: list[Point]) -> dict[str, float]:
    """The rule, from the whole sequence: the greatest (step, timestamp, value with NaN
    lowest), the last logged among equals."""
    best: dict[str, tuple[tuple[int, int, float], float]] = {}
    for key, value, step, timestamp in points:
        rank = (step, timestamp, -math.inf if math.isnan(value) else value)
        if key not in best or rank >= best[key][0]:
            best[key] = (rank, value)
    return {key: value for key, (_, value) in best.items()}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_latest(shown: dict[str, float], points: list[Point]) -> None:
    expected = expected_latest(points)
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert _same(shown[key], value), (key, shown[key], value, points)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, ServerHandle]]:
    """One store and one server on loopback for the module (the configured database)."""
    import dataclasses

    from tests.conftest import PG_URL, _pg_database_url, _pg_drop

    home: Path = tmp_path_factory.mktemp("latest-metric")
    settings = Settings.for_home(home)
    url = _pg_database_url() if PG_URL else None
    if url:
        settings = dataclasses.replace(settings, database_url=url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOOP_HOME", str(home))  # the client's spool
        mp.delenv("MLOOP_TRACKING_URI", raising=False)
        mp.delenv("MLOOP_TOKEN", raising=False)
        runtime = open_runtime(settings)
        server = ServerHandle(runtime).start()
        try:
            yield runtime, server
        finally:
            server.stop()
            runtime.close()
            if url:
                _pg_drop(url)


def _shown(runtime: Runtime, run_id: str) -> dict[str, float]:
    run = runtime.run(lambda ctx: runs.get_run(ctx, RunId(run_id=run_id)), write=False)
    return dict(run.data.metrics)


@given(sequence=split_sequences())
# Found by the generator: log_metric(timestamp=0) stored the time of the call instead.
@example(
    sequence=(
        [("acc", math.inf, 2, 0), ("acc", -math.inf, 2, 0)],
        [[("acc", math.inf, 2, 0)], [("acc", -math.inf, 2, 0)]],
    )
)
def test_latest_is_independent_of_batching(
    stack: tuple[Runtime, ServerHandle], sequence: tuple[list[Point], list[list[Point]]]
) -> None:
    runtime, server = stack
    points, batches = sequence

    # Embedded: the operation, one call per batch (metrics as a list of objects).
    run_id = runtime.run(lambda ctx: runs.create_run(ctx, CreateRun()), write=True).info.run_id
    for batch in batches:
        request = LogBatch(
            run_id=run_id,
            metrics=[MetricIn(key=k, value=v, step=s, timestamp=t) for k, v, s, t in batch],
        )
        runtime.run(lambda ctx, request=request: ingest.log_batch(ctx, request), write=True)
    _assert_latest(_shown(runtime, run_id), points)

    # Remote: the client's synchronous log_batch (metrics as columns over HTTP).
    client = mloop.Client(server.url)
    remote_id = client.create_run(run_name="remote").info.run_id
    for batch in batches:
        client.log_batch(remote_id, [mloop.Metric(k, v, t, s) for k, v, s, t in batch])
    _assert_latest(dict(client.get_run(remote_id).data.metrics), points)

    # Remote, queued: log_metric one value at a time; the background sender batches.
    queued_id = client.create_run(run_name="queued").info.run_id
    for key, value, step, timestamp in points:
        client.log_metric(queued_id, key, value, timestamp=timestamp, step=step)
    client.flush()
    _assert_latest(dict(client.get_run(queued_id).data.metrics), points)

    # Replayed from the spool: each batch kept on disk as while the server was away, the
    # last one carrying the end of the run, then sent in order by the replay.
    backend = backend_for(server.url)
    assert isinstance(backend, RemoteBackend)
    batcher = backend.metrics.batcher
    spooled_id = client.create_run(run_name="spooled").info.run_id
    for i, batch in enumerate(batches):
        metrics = [MetricIn(key=k, value=v, step=s, timestamp=t) for k, v, s, t in batch]
        end = "FINISHED" if i == len(batches) - 1 else None
        batcher.spool(spooled_id, metrics, end_status=end, end_time=now_ms() if end else None)
    batcher.replay()
    assert batcher.spooled_batches() == []
    replayed = client.get_run(spooled_id)
    assert replayed.info.status == "FINISHED"
    _assert_latest(dict(replayed.data.metrics), points)
