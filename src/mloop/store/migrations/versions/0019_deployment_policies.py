"""Zero-touch deployment policies, their runs, approvals and timeline events

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("active_run", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_policies")),
    )
    op.create_index("ix_deployment_policies_model", "deployment_policies", ["model"], unique=False)
    op.create_index("ux_deployment_policies_name", "deployment_policies", ["name"], unique=True)
    op.create_table(
        "policy_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("trigger", sa.String(length=256), nullable=False),
        sa.Column("trigger_event_id", sa.Integer(), nullable=True),
        sa.Column("trigger_payload_json", sa.Text(), nullable=False),
        sa.Column("pipeline_run_id", sa.Integer(), nullable=True),
        sa.Column("tracking_run_id", sa.String(length=64), nullable=True),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("gate_id", sa.Integer(), nullable=True),
        sa.Column("gate_outcome", sa.String(length=32), nullable=True),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("approval", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=256), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_runs")),
    )
    op.create_index(
        "ix_policy_runs_model", "policy_runs", ["model", "candidate_version"], unique=False
    )
    op.create_index("ix_policy_runs_policy", "policy_runs", ["policy", "id"], unique=False)
    op.create_index("ix_policy_runs_state", "policy_runs", ["state"], unique=False)
    op.create_table(
        "policy_run_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["policy_runs.id"], name=op.f("fk_policy_run_events_run_id_policy_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_run_events")),
    )
    op.create_index(
        "ix_policy_run_events_model", "policy_run_events", ["model", "id"], unique=False
    )
    op.create_index("ix_policy_run_events_run", "policy_run_events", ["run_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_policy_run_events_run", table_name="policy_run_events")
    op.drop_index("ix_policy_run_events_model", table_name="policy_run_events")
    op.drop_table("policy_run_events")
    op.drop_index("ix_policy_runs_state", table_name="policy_runs")
    op.drop_index("ix_policy_runs_policy", table_name="policy_runs")
    op.drop_index("ix_policy_runs_model", table_name="policy_runs")
    op.drop_table("policy_runs")
    op.drop_index("ux_deployment_policies_name", table_name="deployment_policies")
    op.drop_index("ix_deployment_policies_model", table_name="deployment_policies")
    op.drop_table("deployment_policies")
