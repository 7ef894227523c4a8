"""Evaluation suites, suite versions and gate decisions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eval_suites",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_eval_suites")),
    )
    op.create_index(
        "ux_eval_suites_lower_name", "eval_suites", [sa.text("lower(name)")], unique=True
    )
    op.create_table(
        "eval_suite_versions",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("dataset_name", sa.String(length=256), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("dataset_digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_eval_suite_versions")),
    )
    op.create_index(
        "ux_eval_suite_versions_digest", "eval_suite_versions", ["name", "digest"], unique=True
    )
    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("suite", sa.String(length=256), nullable=False),
        sa.Column("suite_version", sa.Integer(), nullable=False),
        sa.Column("candidate_name", sa.String(length=256), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("champion_name", sa.String(length=256), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("candidate_run_id", sa.String(length=32), nullable=True),
        sa.Column("champion_run_id", sa.String(length=32), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_decisions")),
    )
    op.create_index(
        "ix_gate_decisions_candidate", "gate_decisions", ["candidate_name", "id"], unique=False
    )
    op.create_index(
        "ix_gate_decisions_champion", "gate_decisions", ["champion_name", "id"], unique=False
    )
    op.create_index("ix_gate_decisions_suite", "gate_decisions", ["suite", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_gate_decisions_suite", table_name="gate_decisions")
    op.drop_index("ix_gate_decisions_champion", table_name="gate_decisions")
    op.drop_index("ix_gate_decisions_candidate", table_name="gate_decisions")
    op.drop_table("gate_decisions")
    op.drop_index("ux_eval_suite_versions_digest", table_name="eval_suite_versions")
    op.drop_table("eval_suite_versions")
    op.drop_index("ux_eval_suites_lower_name", table_name="eval_suites")
    op.drop_table("eval_suites")
