"""MLflow 3 logged models

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mlflow_logged_models",
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("storage_path", sa.String(length=1024), nullable=False),
        sa.Column("model_type", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("output_step", sa.Integer(), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_mlflow_logged_models")),
    )
    op.create_index("ix_mlflow_logged_models_run_name", "mlflow_logged_models", ["run_id", "name"])
    op.create_index(
        "ix_mlflow_logged_models_experiment",
        "mlflow_logged_models",
        ["experiment_id", "creation_time"],
    )


def downgrade() -> None:
    op.drop_index("ix_mlflow_logged_models_experiment", table_name="mlflow_logged_models")
    op.drop_index("ix_mlflow_logged_models_run_name", table_name="mlflow_logged_models")
    op.drop_table("mlflow_logged_models")
