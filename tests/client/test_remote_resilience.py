"""The remote SDK keeps every metric when the server goes away and comes back."""

from __future__ import annotations

import time

import mloop
from mloop.client.connection import backend_for
from mloop.client.remote import RemoteBackend


def test_metrics_survive_a_server_restart(remote) -> None:  # type: ignore[no-untyped-def]
    mloop.set_experiment("resilience")
    run = mloop.start_run()
    for step in range(50):
        mloop.log_metric("loss", 1.0 / (step + 1), step=step)
    mloop.flush()

    remote.stop()
    for step in range(50, 120):
        mloop.log_metric("loss", 1.0 / (step + 1), step=step)  # must not raise while down
    mloop.flush()
    backend = backend_for()
    assert isinstance(backend, RemoteBackend)
    assert backend.metrics.batcher.spooled_batches(), "metrics logged while down are spooled"

    remote.start()
    for step in range(120, 150):
        mloop.log_metric("loss", 1.0 / (step + 1), step=step)
    mloop.flush()
    mloop.end_run()
    assert backend.metrics.batcher.spooled_batches() == []
    history = mloop.Client().get_metric_history(run.info.run_id, "loss")
    assert [p.step for p in history] == list(range(150))


def test_spool_is_replayed_by_a_new_process(remote) -> None:  # type: ignore[no-untyped-def]
    client = mloop.Client()
    run = client.create_run()
    remote.stop()
    client.log_metric(run.info.run_id, "x", 1.0, step=7)
    client.flush()
    backend = backend_for()
    assert isinstance(backend, RemoteBackend)
    assert len(backend.metrics.batcher.spooled_batches()) == 1
    backend.close()

    remote.start()
    # A fresh backend (as a new process would create) replays what the old one spooled.
    from mloop.client import connection

    connection._backends.clear()
    fresh = backend_for()
    assert isinstance(fresh, RemoteBackend)
    deadline = time.monotonic() + 10
    while fresh.metrics.batcher.spooled_batches() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.step for p in mloop.Client().get_metric_history(run.info.run_id, "x")] == [7]


def test_replayed_batch_is_stored_once(remote) -> None:  # type: ignore[no-untyped-def]
    from mloop.tracking.schemas import MetricIn

    client = mloop.Client()
    run = client.create_run()
    backend = backend_for()
    assert isinstance(backend, RemoteBackend)
    metric = MetricIn(key="m", value=1.0, timestamp=1, step=0)
    backend._send_batch(run.info.run_id, [metric], "batch-1")
    backend._send_batch(run.info.run_id, [metric], "batch-1")  # the response was "lost"
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1
