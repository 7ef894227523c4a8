"""The stored form of feature definitions, and the requests and responses of the feature
store's API.

User code builds definitions with the classes of :mod:`mloop.features.definitions`; each
turns into one of the ``*Spec`` messages here, which is what the registry stores, versions
(by the digest of its JSON) and hands back. A Python transformation is stored as its
import reference (``module:function``) and its source text: the process that runs it
(a notebook, ``mloop features materialize``, a server with the feature repository)
imports the same code, and nothing is ever unpickled.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from mloop.core.fields import NO_NUL_PATTERN, AssetName, PageToken, Rule, text
from mloop.core.operations import Message

FeatureType = Literal["float64", "float32", "int64", "int32", "string", "bool", "timestamp"]
DefinitionKind = Literal["entity", "source", "feature_view", "on_demand", "feature_service"]
SourceKind = Literal["file", "dataset", "sql", "postgres"]

MAX_FEATURES = 1000
MAX_KEYS = 8
MAX_SQL = 100_000
MAX_CODE = 200_000
MAX_DESCRIPTION = 5000
MAX_TTL_SECONDS = 100 * 365 * 86_400

ColumnName = Annotated[str, Rule(minLength=1, maxLength=256, pattern=NO_NUL_PATTERN)]
MAX_VERSION = 2**31 - 1
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]
FeatureRef = Annotated[
    str,
    Field(
        pattern=r"^[^:]+:[^:]+$",
        max_length=512,
        description="view:feature, or view:* for all of a view's features",
    ),
]
Description = Annotated[str, text(MAX_DESCRIPTION)]
Tags = dict[Annotated[str, text(256)], Annotated[str, text(5000)]]


class EntitySpec(Message):
    """What features are about: a customer, a driver, a (store, product) pair. Its join keys
    are the columns entity rows and feature rows are matched on."""

    name: AssetName
    join_keys: list[ColumnName] = Field(min_length=1, max_length=MAX_KEYS)
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class SourceSpec(Message):
    """Where feature rows come from, with their event time (and optionally the time each row
    was written, ``created_column``, which breaks ties between rows of the same event time).

    - ``file``: a Parquet or CSV file or glob (``path``; local or ``s3://``);
    - ``dataset``: a registered dataset version (``dataset``, ``version``; the newest when
      None is resolved when the source is read);
    - ``sql``: a DuckDB query (``query``) over files, reading nothing else;
    - ``postgres``: a PostgreSQL table or query (``query``) at ``url`` (an environment
      variable's name in ``url_env`` keeps the password out of the registry).
    """

    name: AssetName
    kind: SourceKind
    timestamp_column: ColumnName
    created_column: ColumnName | None = None
    path: Annotated[str, text(4096)] | None = None
    file_format: Literal["parquet", "csv"] | None = None
    dataset: AssetName | None = None
    version: Version | None = None
    query: Annotated[str, text(MAX_SQL)] | None = None
    url_env: Annotated[str, text(256)] | None = None
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class FeatureSpec(Message):
    """One typed feature of a view."""

    name: ColumnName
    dtype: FeatureType
    description: Description = ""


class TransformSpec(Message):
    """A view's transformation of its source rows: SQL over the relation ``source``
    (DuckDB), or a Python function of a pandas DataFrame (``reference``, with its
    ``code`` for the record)."""

    sql: Annotated[str, text(MAX_SQL)] | None = None
    reference: Annotated[str, text(1024)] | None = None
    code: Annotated[str, text(MAX_CODE)] | None = None


class FeatureViewSpec(Message):
    """Features of one entity (or several, for a composite key) read from a source: each
    feature row has the entities' keys, an event time and the features' values."""

    name: AssetName
    entities: list[AssetName] = Field(min_length=1, max_length=MAX_KEYS)
    source: AssetName
    features: list[FeatureSpec] = Field(min_length=1, max_length=MAX_FEATURES)
    ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS)
    transform: TransformSpec | None = None
    online: StrictBool = True
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class OnDemandSpec(Message):
    """Features computed per row from request data and other features, by a Python function
    of a pandas DataFrame, the same in training and in serving."""

    name: AssetName
    sources: list[FeatureRef] = Field(default_factory=list, max_length=MAX_FEATURES)
    request: list[FeatureSpec] = Field(default_factory=list, max_length=MAX_FEATURES)
    features: list[FeatureSpec] = Field(min_length=1, max_length=MAX_FEATURES)
    transform: TransformSpec
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class FeatureServiceSpec(Message):
    """A named set of features a model consumes (``view:feature`` references, or a whole
    view as ``view:*``). Registering it pins the versions of the views it reads."""

    name: AssetName
    features: list[FeatureRef] = Field(min_length=1, max_length=MAX_FEATURES)
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


AnySpec = EntitySpec | SourceSpec | FeatureViewSpec | OnDemandSpec | FeatureServiceSpec


class Definition(Message):
    """One registered version of a definition."""

    kind: DefinitionKind
    name: str
    version: int
    digest: str
    spec: dict[str, Any]
    pinned: dict[str, int] = Field(
        default_factory=dict,
        description="A feature service's views (and on-demand features) and their versions",
    )
    created_by: str = ""
    creation_time: int


class ApplyDefinitions(Message):
    """Register definitions: new ones get version 1, changed ones a new version.
    ``dry_run`` only plans. ``remove`` and ``force`` need the admin role
    (:class:`AdminApplyDefinitions`)."""

    entities: list[EntitySpec] = Field(default_factory=list, max_length=MAX_FEATURES)
    sources: list[SourceSpec] = Field(default_factory=list, max_length=MAX_FEATURES)
    feature_views: list[FeatureViewSpec] = Field(default_factory=list, max_length=MAX_FEATURES)
    on_demand: list[OnDemandSpec] = Field(default_factory=list, max_length=MAX_FEATURES)
    feature_services: list[FeatureServiceSpec] = Field(
        default_factory=list, max_length=MAX_FEATURES
    )
    dry_run: StrictBool = False


class AdminApplyDefinitions(ApplyDefinitions):
    """Register definitions as an admin: ``remove`` also removes the registered ones not
    given; ``force`` applies changes that break a feature service a deployed model uses."""

    remove: StrictBool = False
    force: StrictBool = Field(
        default=False,
        description="Apply breaking changes to feature services that deployed models use",
    )


PlanAction = Literal["add", "change", "remove", "unchanged"]


class PlanEntry(Message):
    kind: DefinitionKind
    name: str
    action: PlanAction
    version: int | None = Field(default=None, description="The version it has after apply")
    changes: list[str] = Field(default_factory=list, description="What changed, in words")
    breaking: bool = False


class ApplyResult(Message):
    plan: list[PlanEntry]
    applied: bool


class DefinitionRef(Message):
    kind: DefinitionKind
    name: AssetName
    version: Version | None = Field(default=None, description="The newest when None")


class ListDefinitions(Message):
    kind: DefinitionKind | None = None
    max_results: int = Field(default=200, ge=1, le=1000)
    page_token: PageToken | None = Field(default=None, max_length=200)


class DefinitionList(Message):
    definitions: list[Definition]
    next_page_token: str | None = None


class DefinitionVersions(Message):
    versions: list[Definition]
