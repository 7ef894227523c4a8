"""Where feature rows come from: files, registered dataset versions, DuckDB SQL, PostgreSQL.

Each source names the column of event times (``timestamp``) and optionally the column of
the times rows were written (``created``), used to break ties. Sources are plain values:
building one reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mloop.features.schemas import SourceSpec


@dataclass(frozen=True)
class _Source:
    name: str
    timestamp: str
    created: str | None
    description: str
    tags: dict[str, str]


@dataclass(frozen=True)
class FileSource(_Source):
    """Parquet or CSV files (a path or a glob, local or ``s3://``)::

    orders = FileSource("orders", "data/orders/*.parquet", timestamp="event_ts")
    """

    path: str
    file_format: Literal["parquet", "csv"] | None

    def __init__(
        self,
        name: str,
        path: str,
        *,
        timestamp: str,
        created: str | None = None,
        file_format: Literal["parquet", "csv"] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        _init(self, name, timestamp, created, description, tags)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "file_format", file_format)

    def to_spec(self) -> SourceSpec:
        return SourceSpec(
            kind="file", path=self.path, file_format=self.file_format, **_common(self)
        )


@dataclass(frozen=True)
class DatasetSource(_Source):
    """A registered dataset: a given version, or the newest when the source is read."""

    dataset: str
    version: int | None

    def __init__(
        self,
        name: str,
        dataset: str,
        *,
        timestamp: str,
        version: int | None = None,
        created: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        _init(self, name, timestamp, created, description, tags)
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "version", version)

    def to_spec(self) -> SourceSpec:
        return SourceSpec(
            kind="dataset", dataset=self.dataset, version=self.version, **_common(self)
        )


@dataclass(frozen=True)
class SqlSource(_Source):
    """A DuckDB query, over files (``read_parquet('...')``)."""

    query: str

    def __init__(
        self,
        name: str,
        query: str,
        *,
        timestamp: str,
        created: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        _init(self, name, timestamp, created, description, tags)
        object.__setattr__(self, "query", query)

    def to_spec(self) -> SourceSpec:
        return SourceSpec(kind="sql", query=self.query, **_common(self))


@dataclass(frozen=True)
class PostgresSource(_Source):
    """A PostgreSQL table or query. The connection URL is read from the environment
    variable ``url_env`` where the source is read, so no password is registered."""

    query: str
    url_env: str

    def __init__(
        self,
        name: str,
        query: str,
        *,
        timestamp: str,
        url_env: str = "MLOOP_FEATURES_POSTGRES_URL",
        created: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        _init(self, name, timestamp, created, description, tags)
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "url_env", url_env)

    def to_spec(self) -> SourceSpec:
        return SourceSpec(kind="postgres", query=self.query, url_env=self.url_env, **_common(self))


Source = FileSource | DatasetSource | SqlSource | PostgresSource


def _init(
    source: _Source,
    name: str,
    timestamp: str,
    created: str | None,
    description: str,
    tags: dict[str, str] | None,
) -> None:
    object.__setattr__(source, "name", name)
    object.__setattr__(source, "timestamp", timestamp)
    object.__setattr__(source, "created", created)
    object.__setattr__(source, "description", description)
    object.__setattr__(source, "tags", dict(tags or {}))


def _common(source: _Source) -> dict[str, object]:
    return {
        "name": source.name,
        "timestamp_column": source.timestamp,
        "created_column": source.created,
        "description": source.description,
        "tags": source.tags,
    }


def source_from_spec(spec: SourceSpec) -> Source:
    """The source a stored spec describes."""
    common = {
        "timestamp": spec.timestamp_column,
        "created": spec.created_column,
        "description": spec.description,
        "tags": spec.tags,
    }
    if spec.kind == "file":
        assert spec.path is not None
        return FileSource(spec.name, spec.path, file_format=spec.file_format, **common)  # type: ignore[arg-type]
    if spec.kind == "dataset":
        assert spec.dataset is not None
        return DatasetSource(spec.name, spec.dataset, version=spec.version, **common)  # type: ignore[arg-type]
    assert spec.query is not None
    if spec.kind == "sql":
        return SqlSource(spec.name, spec.query, **common)  # type: ignore[arg-type]
    return PostgresSource(spec.name, spec.query, url_env=spec.url_env or "", **common)  # type: ignore[arg-type]


__all__ = ["DatasetSource", "FileSource", "PostgresSource", "Source", "SqlSource"]
