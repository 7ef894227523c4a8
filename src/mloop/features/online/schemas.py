"""Requests and responses of the online store's operations."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool
from pydantic_core import PydanticCustomError

from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, Rule
from mloop.core.naming import MAX_NAME_LENGTH, NAME_PATTERN
from mloop.core.operations import Message
from mloop.features.online.reads import MAX_ENTITY_ROWS


def _integer(value: object) -> object:
    """JSON Schema's integer: not ``true``, not a string of digits."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


_NAME = NAME_PATTERN.removeprefix("^").removesuffix("$")
# ``view:feature`` (``view:*`` for all of a view's features); a view name, then a feature.
FEATURE_REF_PATTERN = rf"^{_NAME}:[^\x00]+$"
# A feature service's name, or ``name:version``.
SERVICE_REF_PATTERN = rf"^{_NAME}(?::[1-9][0-9]{{0,8}})?$"

FeatureRef = Annotated[str, Rule(pattern=FEATURE_REF_PATTERN, maxLength=2 * MAX_NAME_LENGTH + 1)]
ServiceRef = Annotated[
    str,
    Rule(
        pattern=SERVICE_REF_PATTERN,
        maxLength=MAX_NAME_LENGTH + 10,
        description="A feature service: name, or name:version",
    ),
]
# The bounds come before the validator so that they reach the schema.
Version = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_integer)]
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), BeforeValidator(_integer)]
EventMillis = Annotated[
    int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER), BeforeValidator(_integer)
]


class GetOnlineFeatures(Message):
    """Features of entities from the online store: ``view:feature`` references or a
    feature service's name (``name`` or ``name:version``)."""

    features: Annotated[list[FeatureRef], Rule(minItems=1, maxItems=1000)] | ServiceRef = Field(
        description="view:feature references (view:* for all of a view), or a feature "
        "service's name"
    )
    entity_rows: Annotated[list[dict[str, Any]], Rule(maxItems=MAX_ENTITY_ROWS)] = Field(
        description="One mapping of join key to value per entity, each with the join keys "
        "of the views read (a rule of the stored definitions)"
    )
    request_data: list[dict[str, Any]] | None = Field(
        default=None,
        description="Per entity row, the request columns on-demand features need (they may "
        "also be in the entity rows)",
    )
    include_freshness: StrictBool = Field(
        default=False, description="Add each value's age in seconds (now minus its event time)"
    )


class OnlineFeaturesResult(Message):
    """Per entity row (in order): its join keys and features; each feature's status
    (present, expired, missing) and, when asked for, its age in seconds."""

    columns: list[str]
    join_keys: list[str]
    rows: list[dict[str, Any]]
    statuses: list[dict[str, str]]
    freshness: list[dict[str, float | None]] | None = None
    service: str | None = None
    service_version: int | None = None


class PushFeatures(Message):
    """Fresh rows of a feature view, written to the online store at once (each keeps its
    key's newest row)."""

    view: AssetName
    rows: Annotated[list[dict[str, Any]], Rule(minItems=1, maxItems=MAX_ENTITY_ROWS)] = Field(
        description="Join keys, event_timestamp (ISO 8601), optionally created, and every "
        "feature of the view (rules of the stored definition)",
    )


class PushResult(Message):
    view: str
    rows: int = Field(description="Rows given")
    written: int = Field(description="Rows kept: not older than their key's stored row")


class ListMaterializations(Message):
    view: AssetName | None = Field(default=None, description="One view; all when None")


class MaterializationState(Message):
    """How far a view was copied into the online store."""

    view: str
    view_version: int
    watermark: int | None = Field(description="Newest event time materialized, ms")
    rows: int = Field(description="Rows the last materialization wrote")
    materialized_at: int


class Materializations(Message):
    materializations: list[MaterializationState]


class RecordMaterialization(Message):
    """Record a materialization of a view: the watermark moves forward only, unless
    ``reset`` (a run from the beginning, or the view's online rows deleted) or the view's
    version changed."""

    view: AssetName
    view_version: Version
    watermark: EventMillis | None = Field(default=None, description="Newest event time written, ms")
    rows: Count
    reset: StrictBool = False
