"""Serving rollouts: canary ramp plans and health rules, with where each ramp stands

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("base_deployment", sa.Integer(), nullable=True),
        sa.Column("stable", sa.String(length=256), nullable=False),
        sa.Column("candidate", sa.String(length=256), nullable=False),
        sa.Column("ramp_json", sa.Text(), nullable=True),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_check_json", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint"],
            ["endpoints.name"],
            name=op.f("fk_rollouts_endpoint_endpoints"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index("ix_rollouts_endpoint", "rollouts", ["endpoint", "id"])
    op.create_index("ix_rollouts_state", "rollouts", ["state"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_state", table_name="rollouts")
    op.drop_index("ix_rollouts_endpoint", table_name="rollouts")
    op.drop_table("rollouts")
