"""Request and response messages of the model registry API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mloop.core.operations import Message
from mloop.store.versions import AliasHistoryQuery, AliasMove
from mloop.store.versions import Version as Version

MAX_LIST_RESULTS = 1000
MAX_TAGS = 1000


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
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default={}, max_length=MAX_TAGS)


class ModelName(Message):
    name: str


class ListRegisteredModels(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class RegisteredModelList(Message):
    registered_models: list[RegisteredModel]
    next_page_token: str | None = None


class UpdateRegisteredModel(Message):
    name: str
    description: str


class SetRegisteredModelTag(Message):
    name: str
    key: str
    value: str


class DeleteRegisteredModelTag(Message):
    name: str
    key: str


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
    name: str
    source: str = Field(max_length=4096)
    run_id: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default={}, max_length=MAX_TAGS)


class ModelVersionRef(Message):
    name: str
    version: Version


class ListModelVersions(Message):
    name: str
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class ModelVersionList(Message):
    model_versions: list[ModelVersion]
    next_page_token: str | None = None


class UpdateModelVersion(Message):
    name: str
    version: Version
    description: str


class SetModelVersionTag(Message):
    name: str
    version: Version
    key: str
    value: str


class DeleteModelVersionTag(Message):
    name: str
    version: Version
    key: str


class ModelFileList(Message):
    files: list[str]


# -- aliases -------------------------------------------------------------------------------


class SetAlias(Message):
    name: str
    alias: str
    version: Version


class AliasRef(Message):
    name: str
    alias: str


class GetAliasHistory(AliasHistoryQuery):
    """Alias moves of one asset (or one of its aliases), oldest first."""


class AliasHistoryEntry(AliasMove):
    """One alias move: set (from None), moved, or deleted (to None)."""


class AliasHistory(Message):
    entries: list[AliasHistoryEntry]
