"""Route rollouts: canaries of prompt versions and target models on gateway routes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("route", sa.String(length=256), nullable=False),
        sa.Column("variant_kind", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.String(length=256), nullable=True),
        sa.Column("stable", sa.String(length=256), nullable=False),
        sa.Column("candidate", sa.String(length=256), nullable=False),
        sa.Column("ramp_json", sa.Text(), nullable=True),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_rollouts")),
    )
    op.create_index("ix_route_rollouts_route", "route_rollouts", ["route", "id"])
    op.create_index("ix_route_rollouts_state", "route_rollouts", ["state"])
    op.create_table(
        "route_rollout_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("route", sa.String(length=256), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_rollout_events")),
    )
    op.create_index("ix_route_rollout_events_route", "route_rollout_events", ["route", "id"])


def downgrade() -> None:
    op.drop_index("ix_route_rollout_events_route", table_name="route_rollout_events")
    op.drop_table("route_rollout_events")
    op.drop_index("ix_route_rollouts_state", table_name="route_rollouts")
    op.drop_index("ix_route_rollouts_route", table_name="route_rollouts")
    op.drop_table("route_rollouts")
