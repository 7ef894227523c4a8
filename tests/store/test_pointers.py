"""pointer_tables and Pointers: the pointer tables, moves, history and history messages the
registry, datasets and prompts share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from mloop.core.errors import NotFoundError
from mloop.store.artifacts import ArtifactStore
from mloop.store.context import Context
from mloop.store.pointers import Pointers, pointer_tables
from mloop.store.schema import metadata as shared_metadata

_metadata = MetaData(naming_convention=shared_metadata.naming_convention)
_views = Table(
    "views",
    _metadata,
    Column("name", String(256), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
)
_view_tags, _view_tag_history = pointer_tables(
    _metadata, "views", pointers="view_tags", history="view_tag_history", key="tag"
)
TAGS = Pointers(_view_tags, _view_tag_history, "tag")


class TagEntry(BaseModel):
    name: str
    tag: str
    from_version: int | None = None
    to_version: int | None = None
    actor: str
    timestamp: int


def _load_view(ctx: Context, name: str) -> None:
    if ctx.conn.execute(_views.select().where(_views.c.name == name)).first() is None:
        raise NotFoundError(f"view {name!r} does not exist", field="name")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    engine = create_engine(f"sqlite:///{tmp_path / 'pointers.db'}")
    _metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_views).values(name="v", creation_time=1))
        yield Context(conn=conn, artifacts=ArtifactStore(str(tmp_path / "a")), actor="me")
    engine.dispose()


def _ddl(*items: object) -> str:
    """The statements with white space folded, to compare with text written for reading."""
    return " ".join(" ".join(str(item).split()) for item in items)


def test_pointer_tables_name_the_key_column_the_foreign_key_and_the_index() -> None:
    dialect = postgresql.dialect()
    pointers = CreateTable(_view_tags).compile(dialect=dialect)
    assert _ddl(pointers) == _ddl(
        """CREATE TABLE view_tags (
            name VARCHAR(256) NOT NULL,
            tag VARCHAR(256) NOT NULL,
            version INTEGER NOT NULL,
            CONSTRAINT pk_view_tags PRIMARY KEY (name, tag),
            CONSTRAINT fk_view_tags_name_views FOREIGN KEY(name) REFERENCES views (name)
                ON DELETE CASCADE ON UPDATE CASCADE
        )"""
    )
    history = CreateTable(_view_tag_history).compile(dialect=dialect)
    (index,) = _view_tag_history.indexes
    assert _ddl(history, CreateIndex(index).compile(dialect=dialect)) == _ddl(
        """CREATE TABLE view_tag_history (
            id SERIAL NOT NULL,
            name VARCHAR(256) NOT NULL,
            tag VARCHAR(256) NOT NULL,
            from_version INTEGER,
            to_version INTEGER,
            actor VARCHAR(256) NOT NULL,
            timestamp BIGINT NOT NULL,
            CONSTRAINT pk_view_tag_history PRIMARY KEY (id)
        )""",
        "CREATE INDEX ix_view_tag_history_name_tag ON view_tag_history (name, tag)",
    )


def test_moves_are_logged_and_history_entries_name_the_key(ctx: Context) -> None:
    assert TAGS.set(ctx, "v", "prod", 1) is None
    assert TAGS.set(ctx, "v", "prod", 1) == 1  # already there: nothing is logged
    assert TAGS.set(ctx, "v", "prod", 2) == 1
    assert TAGS.set(ctx, "v", "dev", 2) is None
    assert TAGS.remove(ctx, "v", "dev") == 2
    assert TAGS.current(ctx, "v") == {"prod": 2}
    assert TAGS.by_version(ctx, "v", [1, 2]) == {1: [], 2: ["prod"]}

    entries = TAGS.history_entries(ctx, "v", None, 10, TagEntry, load=_load_view)
    assert [(e.tag, e.from_version, e.to_version) for e in entries] == [
        ("prod", None, 1),
        ("prod", 1, 2),
        ("dev", None, 2),
        ("dev", 2, None),
    ]
    assert all(e.name == "v" and e.actor == "me" and e.timestamp > 0 for e in entries)
    one = TAGS.history_entries(ctx, "v", "prod", 1, TagEntry, load=_load_view)
    assert [(e.tag, e.to_version) for e in one] == [("prod", 2)]  # the newest, of one key


def test_an_empty_history_is_an_answer_only_for_an_existing_asset(ctx: Context) -> None:
    assert TAGS.history_entries(ctx, "v", None, 10, TagEntry, load=_load_view) == []
    with pytest.raises(NotFoundError, match="view 'nope' does not exist"):
        TAGS.history_entries(ctx, "nope", None, 10, TagEntry, load=_load_view)


def test_history_outlives_the_asset(ctx: Context) -> None:
    TAGS.set(ctx, "v", "prod", 1)
    ctx.conn.execute(_views.delete().where(_views.c.name == "v"))
    entries = TAGS.history_entries(ctx, "v", None, 10, TagEntry, load=_load_view)
    assert [(e.tag, e.to_version) for e in entries] == [("prod", 1)]
