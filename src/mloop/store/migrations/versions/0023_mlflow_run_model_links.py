"""Runs keep their links to MLflow logged models: models read and models produced

MLflow 3's ``log_inputs(models=...)`` and ``log_outputs`` link a run to logged models; the
run's ``inputs.model_inputs`` and ``outputs.model_outputs`` read them back.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mlflow_run_model_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mlflow_run_model_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mlflow_run_model_links_run", ["run_id", "direction"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mlflow_run_model_links", schema=None) as batch_op:
        batch_op.drop_index("ix_mlflow_run_model_links_run")
    op.drop_table("mlflow_run_model_links")
