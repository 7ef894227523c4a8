"""Request and response messages of the datasets API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mloop.core import fields as f
from mloop.core.operations import Message
from mloop.datasets.checks import MAX_DESCRIPTION_LENGTH, MAX_SOURCE_LENGTH
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

# Request field types: the rules the handlers check, stated in the OpenAPI document.
Description = Annotated[str, f.text(MAX_DESCRIPTION_LENGTH)]
ContractYaml = Annotated[
    str,
    f.Rule(description="A data contract in YAML; it must parse as one (else 400)"),
]
# What ``check_validation`` reads of a ValidationReport.to_dict(); passed must agree with
# summary.errors == 0, which the server checks.
_COUNT = {"type": "integer", "minimum": 0}
REPORT_RULE = f.Rule(
    required=["contract", "contract_version", "passed", "summary", "checks"],
    properties={
        "contract": {"type": "string", "minLength": 1, "maxLength": 256},
        "contract_version": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 256}]},
        "passed": {"type": "boolean"},
        "summary": {
            "type": "object",
            "required": ["errors", "warnings"],
            "properties": {"errors": _COUNT, "warnings": _COUNT},
        },
        "checks": {"type": "array"},
    },
    description="ValidationReport.to_dict(); passed is true exactly when summary.errors is 0",
)
# What ``check_profile`` reads of a DatasetProfile.to_dict(); row_count and the column names
# must match the version's, which the server checks.
PROFILE_RULE = f.Rule(
    required=["format_version", "row_count", "columns"],
    properties={
        "format_version": {"type": "integer", "minimum": 1},
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
        },
    },
    description="DatasetProfile.to_dict(): its row_count and columns (names, in order) are "
    "those of this version",
)


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

    name: Annotated[str, f.Rule(pattern="^[^\\x00]+$", maxLength=10_000)]
    type: Annotated[str, f.Rule(minLength=1, maxLength=10_000)]
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
    name: f.AssetName


class ListDatasets(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class DatasetList(Message):
    datasets: list[Dataset]
    next_page_token: str | None = None


class UpdateDataset(Message):
    name: f.AssetName
    description: Description


class SetDatasetPolicy(Message):
    name: f.AssetName
    contract_yaml: ContractYaml = Field(max_length=MAX_CONTRACT_CHARS)
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

    contract_digest: f.Digest
    contract_yaml: ContractYaml | None = Field(default=None, max_length=MAX_CONTRACT_CHARS)
    report: Annotated[dict[str, Any], REPORT_RULE]


class CreateDatasetVersion(Message):
    name: f.AssetName
    upload_id: f.Id
    digest: f.Digest
    row_count: int = Field(ge=0)
    dataset_schema: list[SchemaField] = Field(max_length=MAX_SCHEMA_COLUMNS)
    profile: Annotated[dict[str, Any], PROFILE_RULE]
    source: Annotated[str, f.text(MAX_SOURCE_LENGTH)] | None = None
    run_id: f.Id | None = None
    description: Description | None = None
    alias: f.AliasName | None = None
    validations: list[ValidationIn] = Field(default=[], max_length=MAX_VALIDATIONS_PER_VERSION)


class RegisteredDatasetVersion(Message):
    """The version a registration produced; ``created`` is False when the same content was
    already registered under the name (that version is returned)."""

    dataset_version: DatasetVersion
    created: bool


class GetDatasetVersion(Message):
    """One version; without ``version``, the newest."""

    name: f.AssetName
    version: Version | None = None
    include_profile: bool = True


class DatasetVersionRef(Message):
    name: f.AssetName
    version: Version


class DatasetVersionByDigest(Message):
    name: f.AssetName
    digest: f.Digest


class ListDatasetVersions(Message):
    name: f.AssetName
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class DatasetVersionList(Message):
    dataset_versions: list[DatasetVersion]
    next_page_token: str | None = None


# -- aliases -------------------------------------------------------------------------------


class SetDatasetAlias(Message):
    name: f.AssetName
    alias: f.AliasName
    version: Version


class DatasetAliasRef(Message):
    name: f.AssetName
    alias: f.AliasName
    include_profile: bool = True


class DeleteDatasetAlias(Message):
    name: f.AssetName
    alias: f.AliasName


class GetDatasetAliasHistory(AliasHistoryQuery):
    """Alias moves of one asset (or one of its aliases), oldest first."""


class DatasetAliasHistoryEntry(AliasMove):
    """One alias move: set (from None), moved, or deleted (to None)."""


class DatasetAliasHistory(Message):
    entries: list[DatasetAliasHistoryEntry]


# -- validations ---------------------------------------------------------------------------


class RecordDatasetValidation(Message):
    name: f.AssetName
    version: Version
    validation: ValidationIn


class ListDatasetValidations(Message):
    """Validations of a dataset (or one version), newest first."""

    name: f.AssetName
    version: Version | None = None
    include_reports: bool = False
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: f.PageToken | None = Field(default=None, max_length=200)


class DatasetValidationList(Message):
    validations: list[DatasetValidation]
    next_page_token: str | None = None


class DatasetValidationId(Message):
    id: int = Field(ge=1, le=2**31 - 1)


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
    name: f.AssetName
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
