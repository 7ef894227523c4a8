"""Asset names are unique regardless of case, also between concurrent creators: the unique
index on ``lower(name)`` (migration 0006) backs the check in ``store.assets``."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from tests.conftest import PG_URL, _pg_drop, _pg_execute

from mloop.core.errors import ConflictError
from mloop.datasets.common import DATASETS
from mloop.prompts.common import PROMPTS
from mloop.registry.common import MODELS
from mloop.store.context import Context
from mloop.store.db import Database
from mloop.store.migrate import alembic_config, current_revision, head_revision
from mloop.store.runtime import Runtime

ASSETS = {"registered_models": MODELS, "datasets": DATASETS, "prompts": PROMPTS}

# -- two creators at the same moment (PostgreSQL: SQLite serialises write transactions) ---


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition``; the bound only stops a broken test, it is not a timing claim."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _race(runtime: Runtime, work: Callable[[Context, str], Any], first: str, second: str) -> list:
    """Run ``work`` for ``first`` and ``second`` in two transactions that both pass the name
    check before either commits: the first inserts and keeps its transaction open until the
    second has inserted too or waits for it. Returns the two outcomes (a value or an error)."""
    outcomes: list[Any] = [None, None]
    inserted = threading.Event()
    second_done = threading.Event()
    second_pid: list[int] = []

    def second_waits() -> bool:
        if second_done.is_set():
            return True
        if not second_pid:
            return False
        with runtime.db.engine.connect() as conn:
            state = conn.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": second_pid[0]},
            ).scalar()
        return bool(state == "Lock")

    def run_first(ctx: Context) -> Any:
        result = work(ctx, first)
        inserted.set()
        _wait_until(second_waits, "the second creator")
        return result

    def run_second(ctx: Context) -> Any:
        second_pid.append(ctx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return work(ctx, second)

    def thread(index: int, fn: Callable[[Context], Any]) -> None:
        try:
            if index == 1:
                _wait_until(inserted.is_set, "the first creator")
            outcomes[index] = runtime.run(fn, write=True, actor="me")
        except Exception as error:
            outcomes[index] = error
        finally:
            if index == 1:
                second_done.set()
            inserted.set()  # never leave the second waiting on a first that failed

    threads = [threading.Thread(target=thread, args=(0, run_first))]
    threads.append(threading.Thread(target=thread, args=(1, run_second)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def pg_runtime(runtime: Runtime) -> Runtime:
    if runtime.db.is_sqlite:
        pytest.skip("SQLite serialises write transactions (BEGIN IMMEDIATE): no race to run")
    return runtime


def _names(runtime: Runtime, table: str) -> list[str]:
    with runtime.db.read() as conn:
        return sorted(conn.execute(text(f"SELECT name FROM {table}")).scalars())


@pytest.mark.parametrize("table", sorted(ASSETS))
def test_two_creators_of_names_differing_in_case_cannot_both_succeed(
    pg_runtime: Runtime, table: str
) -> None:
    rows = ASSETS[table]
    first, second = _race(pg_runtime, lambda ctx, n: rows.create(ctx, n), "Lamp", "lamp")
    assert first is None
    assert isinstance(second, ConflictError), second
    assert second.field == "name"
    assert "'lamp' clashes with 'Lamp'" in second.message
    assert _names(pg_runtime, table) == ["Lamp"]


def test_concurrent_ensure_in_another_case_is_refused(pg_runtime: Runtime) -> None:
    first, second = _race(pg_runtime, lambda ctx, n: MODELS.ensure(ctx, n).name, "Lamp", "lamp")
    assert first == "Lamp"
    assert isinstance(second, ConflictError), second
    assert second.field == "name"
    assert "'lamp' clashes with 'Lamp'" in second.message
    assert _names(pg_runtime, "registered_models") == ["Lamp"]


def test_concurrent_ensure_of_the_same_name_returns_the_one_row(pg_runtime: Runtime) -> None:
    first, second = _race(
        pg_runtime, lambda ctx, n: MODELS.ensure(ctx, n).creation_time, "lamp", "lamp"
    )
    assert isinstance(first, int) and first == second  # the second got the first's row
    assert _names(pg_runtime, "registered_models") == ["lamp"]


def test_concurrent_create_of_the_same_name_is_refused(pg_runtime: Runtime) -> None:
    first, second = _race(pg_runtime, lambda ctx, n: MODELS.create(ctx, n), "lamp", "lamp")
    assert first is None
    assert isinstance(second, ConflictError), second
    assert "'lamp' already exists" in second.message


# -- the index, and what the migration does with names that already clash ----------------


def test_the_index_refuses_a_name_differing_in_case_that_skips_the_check(
    runtime: Runtime,
) -> None:
    # A plain INSERT is what a creator that checked before the other committed does next.
    def work(ctx: Context) -> None:
        for rows in ASSETS.values():
            rows.create(ctx, "Lamp")
            row = {"name": "lamp", "creation_time": 1, "last_update_time": 1}
            with pytest.raises(IntegrityError, match="lower"), ctx.conn.begin_nested():
                ctx.conn.execute(insert(rows.assets).values(**row))

    runtime.run(work, write=True)


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[Database]:
    """A database with no tables (the configured kind)."""
    if not PG_URL:
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()
        return
    name = f"mloop_old_{uuid.uuid4().hex[:10]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
        _pg_drop(url)


def _index_names(db: Database) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if db.is_sqlite
        else "SELECT indexname FROM pg_indexes"
    )
    with db.read() as conn:
        return set(conn.execute(text(query)).scalars())


def test_migration_keeps_a_database_whose_names_already_clash(
    empty_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    from alembic import command

    from mloop.registry.tables import registered_models

    db = empty_database
    command.upgrade(alembic_config(db), "0005")
    with db.write() as conn:  # written before 0006, when only the check guarded names
        conn.execute(
            insert(registered_models),
            [
                {"name": n, "description": "", "creation_time": 1, "last_update_time": 1}
                for n in ("Lamp", "lamp", "sofa")
            ],
        )
    with caplog.at_level(logging.WARNING):
        db.migrate()
    assert current_revision(db) == head_revision(db)
    indexes = _index_names(db)
    assert "ux_registered_models_lower_name" not in indexes
    assert {"ux_datasets_lower_name", "ux_prompts_lower_name"} <= indexes
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "registered_models" in warning and "'lamp'" in warning, warning
    # Nothing was renamed or deleted, and the check still refuses new clashes.
    runtime = Runtime(settings=None, db=db, artifacts=None)  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match="'SOFA' clashes with 'sofa'"):
        runtime.run(lambda ctx: MODELS.create(ctx, "SOFA"), write=True, actor="me")
    with db.read() as conn:
        names = sorted(conn.execute(text("SELECT name FROM registered_models")).scalars())
    assert names == ["Lamp", "lamp", "sofa"]
