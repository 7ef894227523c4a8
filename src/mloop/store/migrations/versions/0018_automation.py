"""Automation: the job queue with leases, triggers and schedules

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=256), nullable=True),
        sa.Column("concurrency_key", sa.String(length=256), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=256), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("trigger_name", sa.String(length=256), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_jobs")),
    )
    op.create_index("ix_automation_jobs_created", "automation_jobs", ["created_at"], unique=False)
    op.create_index(
        "ix_automation_jobs_due", "automation_jobs", ["status", "run_after", "id"], unique=False
    )
    op.create_index(
        "ix_automation_jobs_lease", "automation_jobs", ["status", "lease_expires_at"], unique=False
    )
    op.create_index(
        "ix_automation_jobs_trigger", "automation_jobs", ["trigger_name", "status"], unique=False
    )
    op.create_index(
        "ux_automation_jobs_concurrency",
        "automation_jobs",
        ["concurrency_key"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ux_automation_jobs_dedup",
        "automation_jobs",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'running')"),
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "automation_trigger_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trigger_name", sa.String(length=256), nullable=False),
        sa.Column("trigger_kind", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_trigger_events")),
    )
    op.create_index(
        "ix_automation_trigger_events_job", "automation_trigger_events", ["job_id"], unique=False
    )
    op.create_index(
        "ix_automation_trigger_events_policy",
        "automation_trigger_events",
        ["policy", "id"],
        unique=False,
    )
    op.create_index(
        "ix_automation_trigger_events_trigger",
        "automation_trigger_events",
        ["trigger_name", "id"],
        unique=False,
    )
    op.create_table(
        "automation_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("target_json", sa.Text(), nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("dedup_window_s", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=True),
        sa.Column("cursor_json", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.BigInteger(), nullable=True),
        sa.Column("last_fired_at", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_triggers")),
    )
    op.create_index(
        "ix_automation_triggers_due",
        "automation_triggers",
        ["enabled", "next_check_at"],
        unique=False,
    )
    op.create_index(
        "ix_automation_triggers_policy", "automation_triggers", ["policy"], unique=False
    )
    op.create_index("ux_automation_triggers_name", "automation_triggers", ["name"], unique=True)
    op.create_table(
        "automation_job_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=256), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["automation_jobs.id"],
            name=op.f("fk_automation_job_attempts_job_id_automation_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_job_attempts")),
    )
    op.create_index(
        "ux_automation_job_attempts", "automation_job_attempts", ["job_id", "attempt"], unique=True
    )


def downgrade() -> None:
    op.drop_table("automation_trigger_events")
    op.drop_table("automation_triggers")
    op.drop_table("automation_job_attempts")
    op.drop_table("automation_jobs")
