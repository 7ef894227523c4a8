"""Tables owned by the model registry."""

from sqlalchemy import (
    BigInteger,
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

registered_models = Table(
    "registered_models",
    metadata,
    *asset_columns(),
)
lower_name_index(registered_models)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("source", Text, nullable=False),
    Column("storage_path", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("flavor", String(64), nullable=False),
    Column("signature_json", Text, nullable=True),
    Column("metrics_json", Text, nullable=False, default="{}"),
    Column("sha256", String(64), nullable=False),
    Column("status", String(32), nullable=False, default="READY"),
    Column("user_id", String(256), nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    # The registered dataset versions the source run read, with the contracts they passed
    # (a JSON list; see mloop.datasets.lineage.training_data_for_run).
    Column("training_data_json", Text, nullable=True),
    # MLflow's stage (None, Staging, Production, Archived), set only through MLflow's API.
    Column("stage", String(16), nullable=False, default="None", server_default="None"),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    ),
)

# Aliases, and the append-only audit trail of their moves (kept even when a model is
# deleted).
model_aliases, alias_history = pointer_tables(
    metadata,
    "registered_models",
    pointers="model_aliases",
    history="alias_history",
    key="alias",
)
