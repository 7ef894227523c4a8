"""Versioned datasets; the training data of model versions; run inputs by digest

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("policy_contract", sa.Text(), nullable=True),
        sa.Column("policy_contract_name", sa.String(length=256), nullable=True),
        sa.Column("policy_contract_version", sa.String(length=256), nullable=True),
        sa.Column("policy_digest", sa.String(length=64), nullable=True),
        sa.Column("policy_required", sa.Boolean(), nullable=False),
        sa.Column("policy_update_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_datasets")),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["datasets.name"],
            name=op.f("fk_dataset_versions_name_datasets"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_dataset_versions")),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_index("ix_dataset_versions_run", "dataset_versions", ["run_id"])
    op.create_table(
        "dataset_aliases",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["datasets.name"],
            name=op.f("fk_dataset_aliases_name_datasets"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "alias", name=op.f("pk_dataset_aliases")),
    )
    op.create_table(
        "dataset_alias_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_alias_history")),
    )
    op.create_index(
        "ix_dataset_alias_history_name_alias", "dataset_alias_history", ["name", "alias"]
    )
    op.create_table(
        "dataset_validations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contract_name", sa.String(length=256), nullable=False),
        sa.Column("contract_version", sa.String(length=256), nullable=False),
        sa.Column("contract_digest", sa.String(length=64), nullable=False),
        sa.Column("contract_yaml", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["dataset_versions.name", "dataset_versions.version"],
            name=op.f("fk_dataset_validations_name_dataset_versions"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_validations")),
    )
    op.create_index("ix_dataset_validations_version", "dataset_validations", ["name", "version"])
    op.create_table(
        "dataset_uploads",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_dataset_uploads")),
    )
    op.create_index("ix_dataset_uploads_created", "dataset_uploads", ["created_time"])
    # The registered datasets a model version's run read, with the contracts they passed.
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("training_data_json", sa.Text(), nullable=True))
    # Lineage: the runs that read data with a given digest.
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_run_inputs_digest", table_name="run_inputs")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("training_data_json")
    op.drop_index("ix_dataset_uploads_created", table_name="dataset_uploads")
    op.drop_table("dataset_uploads")
    op.drop_index("ix_dataset_validations_version", table_name="dataset_validations")
    op.drop_table("dataset_validations")
    op.drop_index("ix_dataset_alias_history_name_alias", table_name="dataset_alias_history")
    op.drop_table("dataset_alias_history")
    op.drop_table("dataset_aliases")
    op.drop_index("ix_dataset_versions_run", table_name="dataset_versions")
    op.drop_index("ix_dataset_versions_digest", table_name="dataset_versions")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
