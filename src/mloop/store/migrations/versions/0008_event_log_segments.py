"""The event logs' segment index (inference log, labels)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_log_segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("partition_key", sa.String(length=256), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("min_time", sa.BigInteger(), nullable=False),
        sa.Column("max_time", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("deletion_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log_segments")),
    )
    op.create_index(
        "ix_event_log_segments_source_key_day",
        "event_log_segments",
        ["source", "partition_key", "day"],
    )
    op.create_index(
        "ix_event_log_segments_source_max_time", "event_log_segments", ["source", "max_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_event_log_segments_source_max_time", table_name="event_log_segments")
    op.drop_index("ix_event_log_segments_source_key_day", table_name="event_log_segments")
    op.drop_table("event_log_segments")
