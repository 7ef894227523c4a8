"""The metadata database: migrations match the tables, and concurrent processes are safe."""

from __future__ import annotations

import multiprocessing
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import mloop.auth.tables
import mloop.datasets.tables
import mloop.llm.calls.tables
import mloop.prompts.tables
import mloop.registry.tables
import mloop.serving.tables
import mloop.store.eventlog.tables
import mloop.tracking.tables  # noqa: F401
from mloop.core.config import Settings
from mloop.store.migrate import current_revision, head_revision
from mloop.store.runtime import Runtime, open_runtime
from mloop.store.schema import metadata


def test_migrations_match_the_table_definitions(runtime: Runtime) -> None:
    assert current_revision(runtime.db) == head_revision(runtime.db)
    with runtime.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent(settings: Settings) -> None:
    first = open_runtime(settings)
    first.close()
    second = open_runtime(settings)
    assert current_revision(second.db) == head_revision(second.db)
    second.close()


def _worker(env: dict[str, str], run_id: str, worker: int) -> None:
    os.environ.update(env)
    import mloop

    client = mloop.Client()
    for i in range(25):
        client.log_batch(
            run_id,
            metrics=[mloop.Metric(f"w{worker}", float(i), 1, i)],
            params=[mloop.Param(f"w{worker}-{i}", str(i))],
        )


def test_several_processes_write_concurrently(settings: Settings) -> None:
    import mloop

    run = mloop.Client().create_run()
    env = {k: v for k, v in os.environ.items() if k.startswith("MLOOP_")}
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(env, run.info.run_id, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    stored = mloop.Client().get_run(run.info.run_id)
    assert len(stored.data.params) == 100
    assert {k: v for k, v in stored.data.metrics.items()} == {f"w{w}": 24.0 for w in range(4)}


def test_insert_ignore_reports_whether_it_inserted(runtime: Runtime) -> None:
    from mloop.store.sql import insert_ignore
    from mloop.tracking.tables import ingested_batches

    def work(ctx):  # type: ignore[no-untyped-def]
        from mloop.tracking.runs import create_run
        from mloop.tracking.schemas import CreateRun

        run_id = create_run(ctx, CreateRun()).info.run_id
        row = {"batch_id": "b1", "run_id": run_id, "created_at": 1}
        return insert_ignore(ctx.conn, ingested_batches, row), insert_ignore(
            ctx.conn, ingested_batches, row
        )

    assert runtime.run(work, write=True) == (True, False)


def test_head_read_from_the_migration_files_is_alembics(runtime) -> None:  # type: ignore[no-untyped-def]
    """The fast schema check (no Alembic import) must agree with Alembic on the head."""
    from mloop.store.migrate import _stored_revision, head_revision, script_head

    assert script_head() == head_revision(runtime.db)
    assert _stored_revision(runtime.db) == script_head()
