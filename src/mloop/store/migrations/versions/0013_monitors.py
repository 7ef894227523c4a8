"""Monitors: a monitor of an endpoint's log or a dataset against a reference, and its windows

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.String(length=256), nullable=True),
        sa.Column("dataset", sa.String(length=256), nullable=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("reference_json", sa.Text(), nullable=True),
        sa.Column("reference_time", sa.BigInteger(), nullable=True),
        sa.Column("reference_rows", sa.BigInteger(), nullable=True),
        sa.Column("last_window_end", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_monitors_endpoint", "monitors", ["endpoint"])
    op.create_index("ix_monitors_dataset", "monitors", ["dataset"])
    op.create_index("ux_monitors_lower_name", "monitors", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=True),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor"], ["monitors.name"], onupdate="CASCADE", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_monitor_windows_start", "monitor_windows", ["monitor", "window_start"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_monitor_windows_start", table_name="monitor_windows")
    op.drop_table("monitor_windows")
    op.drop_index("ux_monitors_lower_name", table_name="monitors")
    op.drop_index("ix_monitors_dataset", table_name="monitors")
    op.drop_index("ix_monitors_endpoint", table_name="monitors")
    op.drop_table("monitors")
