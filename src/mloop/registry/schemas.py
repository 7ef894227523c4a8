"""Request and response messages of the model registry API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mloop.core import fields as f
from mloop.core.operations import Message
from mloop.registry.checks import MAX_DESCRIPTION_LENGTH
from mloop.store.versions import AliasHistoryQuery, AliasMove
from mloop.store.versions import Version as Version

MAX_LIST_RESULTS = 1000
MAX_TAGS = 1000

# Request field types: the rules the handlers check, stated in the OpenAPI document.
Description = Annotated[str, f.text(MAX_DESCRIPTION_LENGTH)]


# -- registered models ---------------------------------------------------------------------


class RegisteredModel(Message):
    name: str
    description: str = ""
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None


class CreateRegisteredModel(Message):
    name: f.AssetName
    description: Description | None = None
    tags: f.Tags = Field(default={}, max_length=MAX_TAGS)


class ModelName(Message):
    name: f.AssetName


class ListRegisteredModels(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class RegisteredModelList(Message):
    registered_models: list[RegisteredModel]
    next_page_token: str | None = None


class RenameRegisteredModel(Message):
    name: f.AssetName
    new_name: f.AssetName


class UpdateRegisteredModel(Message):
    name: f.AssetName
    description: Description


class SetRegisteredModelTag(Message):
    name: f.AssetName
    key: f.Key
    value: f.TagValue


class DeleteRegisteredModelTag(Message):
    name: f.AssetName
    key: f.Key


# -- model versions ------------------------------------------------------------------------


class ModelVersion(Message):
    name: str
    version: int
    description: str = ""
    source: str
    run_id: str | None = None
    flavor: str
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    sha256: str
    status: str
    user_id: str = ""
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    # The registered dataset versions the source run read and the contract each passed:
    # name, version, digest, context, contract_name, contract_version, contract_digest,
    # validation_id (the contract fields are None when no validation passed).
    training_data: list[dict[str, Any]] = Field(default_factory=list)


class CreateModelVersion(Message):
    name: f.AssetName
    source: f.RunsUri = Field(max_length=4096)
    # The run in source, repeated (MLflow clients send both).
    run_id: f.Id | None = None
    description: Description | None = None
    tags: f.Tags = Field(default={}, max_length=MAX_TAGS)


class ModelVersionRef(Message):
    name: f.AssetName
    version: Version


class ListModelVersions(Message):
    name: f.AssetName
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class ModelVersionList(Message):
    model_versions: list[ModelVersion]
    next_page_token: str | None = None


class UpdateModelVersion(Message):
    name: f.AssetName
    version: Version
    description: Description


class SetModelVersionTag(Message):
    name: f.AssetName
    version: Version
    key: f.Key
    value: f.TagValue


class DeleteModelVersionTag(Message):
    name: f.AssetName
    version: Version
    key: f.Key


class ModelFileList(Message):
    files: list[str]


# -- aliases -------------------------------------------------------------------------------


class SetAlias(Message):
    name: f.AssetName
    alias: f.AliasName
    version: Version


class AliasRef(Message):
    name: f.AssetName
    alias: f.AliasName


class GetAliasHistory(AliasHistoryQuery):
    """Alias moves of one asset (or one of its aliases), oldest first."""


class AliasHistoryEntry(AliasMove):
    """One alias move: set (from None), moved, or deleted (to None)."""


class AliasHistory(Message):
    entries: list[AliasHistoryEntry]
