"""Tables owned by the datasets domain: registered datasets, their immutable versions,
aliases with an append-only history, contract validations and pending uploads."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.assets import asset_columns, lower_name_index
from mloop.store.pointers import pointer_tables
from mloop.store.schema import metadata

datasets = Table(
    "datasets",
    metadata,
    *asset_columns(),
    # The registration policy: a contract (YAML text) every new version is checked against;
    # with policy_required, a version that fails it is refused.
    Column("policy_contract", Text, nullable=True),
    Column("policy_contract_name", String(256), nullable=True),
    Column("policy_contract_version", String(256), nullable=True),
    Column("policy_digest", String(64), nullable=True),
    Column("policy_required", Boolean, nullable=False, default=False),
    Column("policy_update_time", BigInteger, nullable=True),
)
lower_name_index(datasets)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("datasets.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    # sha256 of the stored Parquet bytes: the version's identity within the dataset.
    Column("digest", String(64), nullable=False),
    Column("storage_path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("profile_json", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    # The run that was active when the version was registered (the producer), if any.
    Column("run_id", String(32), nullable=True),
    Column("status", String(32), nullable=False, default="READY"),
    Column("created_by", String(256), nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Index("ix_dataset_versions_digest", "digest"),
    Index("ix_dataset_versions_run", "run_id"),
)

# Aliases, and the append-only audit trail of their moves (it outlives deleted versions).
dataset_aliases, dataset_alias_history = pointer_tables(
    metadata,
    "datasets",
    pointers="dataset_aliases",
    history="dataset_alias_history",
    key="alias",
)

dataset_validations = Table(
    "dataset_validations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("contract_name", String(256), nullable=False),
    Column("contract_version", String(256), nullable=False),
    Column("contract_digest", String(64), nullable=False),
    # The contract's YAML when it came from a file or a policy (None for Python contracts).
    Column("contract_yaml", Text, nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_time", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["dataset_versions.name", "dataset_versions.version"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    ),
    Index("ix_dataset_validations_version", "name", "version"),
)

# Files received by the upload route and checked against their digest, waiting for the
# create-version call that moves them into place. Leftovers are removed after a day.
dataset_uploads = Table(
    "dataset_uploads",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("storage_path", Text, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_time", BigInteger, nullable=False),
    Index("ix_dataset_uploads_created", "created_time"),
)
