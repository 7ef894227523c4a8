"""The remote SDK keeps every metric when the server goes away and comes back."""

from __future__ import annotations

import logging
import time

import pytest

import mloop
from mloop.client.batcher import MetricBatcher
from mloop.client.connection import backend_for
from mloop.client.remote import RemoteBackend
from mloop.core.timeutil import now_ms
from mloop.tracking.schemas import MetricIn


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


def test_run_ended_while_the_server_is_down_is_finished_by_the_replay(  # type: ignore[no-untyped-def]
    remote, caplog
) -> None:
    """The end of a run is spooled after its metrics, in order; the with block does not
    raise, says where the batches are kept, and the replay finishes the run (issue 11)."""
    mloop.set_experiment("offline-end")
    with caplog.at_level(logging.WARNING, logger="mloop.client"):
        with mloop.start_run() as run:
            mloop.log_metric("loss", 0.5, step=0)
            mloop.flush()
            remote.stop()
            mloop.log_metric("loss", 0.25, step=1)  # queued; the server is away
        ended_by = now_ms()
    backend = backend_for()
    assert isinstance(backend, RemoteBackend)
    spool_dir = backend.metrics.batcher.spool_dir
    assert backend.metrics.batcher.spooled_batches(), "the end of the run is kept on disk"
    assert any(
        run.info.run_id in r.getMessage() and str(spool_dir) in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]

    remote.start()
    mloop.flush()  # replays the spool: metrics first, then the end of the run
    assert backend.metrics.batcher.spooled_batches() == []
    stored = mloop.Client().get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time is not None and stored.info.end_time <= ended_by
    assert [p.step for p in mloop.Client().get_metric_history(run.info.run_id, "loss")] == [0, 1]


def test_failed_run_ended_offline_keeps_its_status_and_exception(remote) -> None:  # type: ignore[no-untyped-def]
    """The body's own exception still propagates; only the server's absence is absorbed."""
    mloop.set_experiment("offline-fail")
    with pytest.raises(RuntimeError, match="diverged"), mloop.start_run() as run:
        remote.stop()
        raise RuntimeError("loss diverged")
    remote.start()
    mloop.flush()
    assert mloop.Client().get_run(run.info.run_id).info.status == "FAILED"


def test_replay_logs_no_false_unreadable_warning(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A batch that another replay (another thread's flush) already sent is not reported
    as an unreadable spool file (issue 11)."""
    sent: list[str] = []

    def send(run_id: str, metrics: list[MetricIn], batch_id: str, **end: object) -> None:
        sent.append(batch_id)
        if len(sent) == 1:
            # While this batch is on its way, a second replay runs: the worker thread's
            # and flush() both replay, and either may send a file the other listed.
            batcher.flush()

    batcher = MetricBatcher(send, tmp_path / "spool")
    for step in range(3):
        batcher.spool("r" * 32, [MetricIn(key="m", value=1.0, timestamp=1, step=step)])
    with caplog.at_level(logging.WARNING, logger="mloop.client"):
        batcher.flush()
    assert batcher.spooled_batches() == []
    assert not [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(set(sent)) == 3
    batcher.close()
