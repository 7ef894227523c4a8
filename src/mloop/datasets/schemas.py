"""Request and response messages of the datasets API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mloop.core.operations import Message
from mloop.store.versions import AliasHistoryQuery, AliasMove
from mloop.store.versions import Version as Version

MAX_LIST_RESULTS = 1000
MAX_CONTRACT_CHARS = 1024 * 1024
MAX_SCHEMA_COLUMNS = 100_000
MAX_VALIDATIONS_PER_VERSION = 16
MAX_PROFILE_BYTES = 16 * 1024 * 1024
"""The largest profile (as compact JSON) a version may carry."""
MAX_REPORT_BYTES = 8 * 1024 * 1024
"""The largest validation report (as compact JSON) that is stored."""


# -- datasets ------------------------------------------------------------------------------


class DatasetPolicy(Message):
    """The contract every new version of a dataset is checked against at registration."""

    contract_name: str
    contract_version: str
    contract_digest: str
    required: bool
    update_time: int | None = None
    # The contract's YAML; left out of listings.
    contract_yaml: str | None = None


class SchemaField(Message):
    """One column of a dataset version: its name, Arrow type (as text) and nullability."""

    name: str
    type: str
    nullable: bool = True


class DatasetValidation(Message):
    """One contract validation of a dataset version, as stored."""

    id: int
    name: str
    version: int
    contract_name: str
    contract_version: str
    contract_digest: str
    passed: bool
    errors: int
    warnings: int
    created_by: str = ""
    created_time: int
    contract_yaml: str | None = None
    # The full ValidationReport.to_dict() (checks, failing counts, example rows); left out
    # of listings unless asked for.
    report: dict[str, Any] | None = None


class DatasetVersion(Message):
    name: str
    version: int
    digest: str
    size: int
    row_count: int
    dataset_schema: list[SchemaField]
    # DatasetProfile.to_dict(); left out of listings.
    profile: dict[str, Any] | None = None
    source: str = ""
    run_id: str | None = None
    status: str
    created_by: str = ""
    creation_time: int
    aliases: list[str] = Field(default_factory=list)
    latest_validation: DatasetValidation | None = None


class Dataset(Message):
    name: str
    description: str = ""
    creation_time: int
    last_update_time: int
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None
    version_count: int = 0
    latest: DatasetVersion | None = None
    policy: DatasetPolicy | None = None


class DatasetName(Message):
    name: str


class ListDatasets(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class DatasetList(Message):
    datasets: list[Dataset]
    next_page_token: str | None = None


class UpdateDataset(Message):
    name: str
    description: str


class SetDatasetPolicy(Message):
    name: str
    contract_yaml: str = Field(max_length=MAX_CONTRACT_CHARS)
    required: bool = True


# -- versions ------------------------------------------------------------------------------


class DatasetUpload(Message):
    """A file received and checked against its digest, waiting to become a version."""

    upload_id: str
    name: str
    digest: str
    size: int


class ValidationIn(Message):
    """A validation the client ran: the report as ``ValidationReport.to_dict()``."""

    contract_digest: str
    contract_yaml: str | None = Field(default=None, max_length=MAX_CONTRACT_CHARS)
    report: dict[str, Any]


class CreateDatasetVersion(Message):
    name: str
    upload_id: str
    digest: str
    row_count: int = Field(ge=0)
    dataset_schema: list[SchemaField] = Field(max_length=MAX_SCHEMA_COLUMNS)
    profile: dict[str, Any]
    source: str | None = None
    run_id: str | None = None
    description: str | None = None
    alias: str | None = None
    validations: list[ValidationIn] = Field(default=[], max_length=MAX_VALIDATIONS_PER_VERSION)


class RegisteredDatasetVersion(Message):
    """The version a registration produced; ``created`` is False when the same content was
    already registered under the name (that version is returned)."""

    dataset_version: DatasetVersion
    created: bool


class GetDatasetVersion(Message):
    """One version; without ``version``, the newest."""

    name: str
    version: Version | None = None
    include_profile: bool = True


class DatasetVersionRef(Message):
    name: str
    version: Version


class DatasetVersionByDigest(Message):
    name: str
    digest: str


class ListDatasetVersions(Message):
    name: str
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class DatasetVersionList(Message):
    dataset_versions: list[DatasetVersion]
    next_page_token: str | None = None


# -- aliases -------------------------------------------------------------------------------


class SetDatasetAlias(Message):
    name: str
    alias: str
    version: Version


class DatasetAliasRef(Message):
    name: str
    alias: str
    include_profile: bool = True


class DeleteDatasetAlias(Message):
    name: str
    alias: str


class GetDatasetAliasHistory(AliasHistoryQuery):
    """Alias moves of one asset (or one of its aliases), oldest first."""


class DatasetAliasHistoryEntry(AliasMove):
    """One alias move: set (from None), moved, or deleted (to None)."""


class DatasetAliasHistory(Message):
    entries: list[DatasetAliasHistoryEntry]


# -- validations ---------------------------------------------------------------------------


class RecordDatasetValidation(Message):
    name: str
    version: Version
    validation: ValidationIn


class ListDatasetValidations(Message):
    """Validations of a dataset (or one version), newest first."""

    name: str
    version: Version | None = None
    include_reports: bool = False
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class DatasetValidationList(Message):
    validations: list[DatasetValidation]
    next_page_token: str | None = None


class DatasetValidationId(Message):
    id: int = Field(ge=1)


# -- lineage -------------------------------------------------------------------------------


class LineageRun(Message):
    """A run in a dataset version's lineage."""

    run_id: str
    run_name: str | None = None
    experiment_id: str
    status: str
    start_time: int | None = None
    end_time: int | None = None
    contexts: list[str] = Field(default_factory=list)


class GetDatasetLineage(Message):
    name: str
    version: Version
    max_results: int = Field(default=1000, ge=1, le=10_000)


class DatasetLineage(Message):
    """Where a version came from (the run that registered it) and which runs read it."""

    name: str
    version: int
    digest: str
    source: str = ""
    producer: LineageRun | None = None
    read_by: list[LineageRun] = Field(default_factory=list)
