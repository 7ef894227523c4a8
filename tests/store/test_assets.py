"""AssetRows: the named-asset lookups the registry, datasets and prompts share, on the
configured database (SQLite, or PostgreSQL in the PostgreSQL pass)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert

from mloop.core.errors import ConflictError, NotFoundError, ValidationError
from mloop.store.assets import AssetRows
from mloop.store.context import Context
from mloop.store.runtime import Runtime

_metadata = MetaData()
_things = Table(
    "things",
    _metadata,
    Column("name", String(64), primary_key=True),
    Column("description", String(200), nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)
_thing_versions = Table(
    "thing_versions",
    _metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
)
_notes = Table(
    "notes",
    _metadata,
    Column("name", String(64), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)
_note_versions = Table(  # no status column: versions are never deleted
    "note_versions",
    _metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
)


def _check(name: str) -> None:
    if not name or "/" in name:
        raise ValidationError(f"bad name {name!r}", field="name")


THINGS = AssetRows(_things, _thing_versions, noun="thing", version_noun="it", check_name=_check)
NOTES = AssetRows(_notes, _note_versions, noun="note", check_name=_check)


@pytest.fixture
def ctx(runtime: Runtime) -> Iterator[Context]:
    """One write transaction on the test's own database (the tables are created in it)."""
    _metadata.create_all(runtime.db.engine)
    with runtime.db.write() as conn:
        yield Context(conn=conn, artifacts=runtime.artifacts, actor="me")


def test_load_names_the_missing_asset_and_checks_the_name(ctx: Context) -> None:
    with pytest.raises(NotFoundError, match="thing 'lamp' does not exist"):
        THINGS.load(ctx, "lamp")
    with pytest.raises(ValidationError, match="bad name"):
        THINGS.load(ctx, "a/b")


def test_ensure_creates_once_and_refuses_a_name_differing_only_in_case(ctx: Context) -> None:
    row = THINGS.ensure(ctx, "lamp", description="bright")
    assert (row.name, row.description) == ("lamp", "bright")
    assert row.creation_time == row.last_update_time > 0
    again = THINGS.ensure(ctx, "lamp", description="ignored: it exists")
    assert again.description == "bright"
    with pytest.raises(ConflictError, match="'Lamp' clashes with 'lamp'"):
        THINGS.ensure(ctx, "Lamp")


def test_create_refuses_a_taken_name_in_any_case(ctx: Context) -> None:
    THINGS.create(ctx, "lamp", description="bright")
    assert THINGS.load(ctx, "lamp").description == "bright"
    with pytest.raises(ConflictError, match="'lamp' already exists"):
        THINGS.create(ctx, "lamp")
    with pytest.raises(ConflictError, match="'LAMP' clashes with 'lamp'"):
        THINGS.create(ctx, "LAMP")
    with pytest.raises(ValidationError, match="bad name"):
        THINGS.create(ctx, "")


def test_touch_moves_the_update_time_and_sets_values(ctx: Context) -> None:
    created = THINGS.ensure(ctx, "lamp")
    THINGS.touch(ctx, "lamp", description="dim")
    row = THINGS.load(ctx, "lamp", lock=True)
    assert row.description == "dim" and row.last_update_time >= created.last_update_time


def test_deleted_versions_are_not_found_and_never_the_latest(ctx: Context) -> None:
    THINGS.ensure(ctx, "lamp")
    ctx.conn.execute(
        insert(_thing_versions),
        [
            {"name": "lamp", "version": 1, "status": "READY"},
            {"name": "lamp", "version": 2, "status": "DELETED"},
        ],
    )
    assert THINGS.load_version(ctx, "lamp", 1).version == 1
    with pytest.raises(NotFoundError, match="version 2 of it 'lamp' was deleted"):
        THINGS.load_version(ctx, "lamp", 2)
    with pytest.raises(NotFoundError, match="version 3 of it 'lamp' does not exist"):
        THINGS.load_version(ctx, "lamp", 3)
    with pytest.raises(NotFoundError, match="thing 'sofa' does not exist"):
        THINGS.load_version(ctx, "sofa", 1)  # the unknown asset is named, not the version
    assert THINGS.latest_version(ctx, "lamp") == 1


def test_versions_without_a_status_are_all_live(ctx: Context) -> None:
    NOTES.ensure(ctx, "memo")
    assert NOTES.latest_version(ctx, "memo") is None
    ctx.conn.execute(insert(_note_versions), [{"name": "memo", "version": v} for v in (1, 2)])
    assert NOTES.latest_version(ctx, "memo") == 2
    assert NOTES.load_version(ctx, "memo", 2).version == 2
    with pytest.raises(NotFoundError, match="version 9 of note 'memo' does not exist"):
        NOTES.load_version(ctx, "memo", 9)
