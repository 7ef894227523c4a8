"""Model versions keep MLflow's stage (None, Staging, Production or Archived)

MLflow's clients still move versions between stages (``transition_model_version_stage``) and
ask for the latest version of each stage; mloop keeps the stage so that they read back what
they set. mloop's own API uses aliases. Rows written before this revision are in stage
"None", as every MLflow version starts.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage", sa.String(length=16), nullable=False, server_default="None")
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("stage")
