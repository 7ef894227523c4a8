"""Feature store: definitions and their versions, materialization watermarks, profiles

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_objects",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name"),
    )
    op.create_table(
        "feature_definitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("pinned_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_feature_definitions_version",
        "feature_definitions",
        ["kind", "name", "version"],
        unique=True,
    )
    op.create_table(
        "feature_materializations",
        sa.Column("view", sa.String(length=256), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("materialized_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("view"),
    )
    op.create_table(
        "feature_profiles",
        sa.Column("view", sa.String(length=256), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("view"),
    )


def downgrade() -> None:
    op.drop_table("feature_profiles")
    op.drop_table("feature_materializations")
    op.drop_index("ux_feature_definitions_version", table_name="feature_definitions")
    op.drop_table("feature_definitions")
    op.drop_table("feature_objects")
