"""The prompt registry: prompts, versions, labels with history, reviews

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("approval_labels_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_prompts")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content_json", sa.Text(), nullable=False),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["prompts.name"],
            name=op.f("fk_prompt_versions_name_prompts"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_prompt_versions")),
    )
    op.create_index("ix_prompt_versions_digest", "prompt_versions", ["digest"])
    op.create_table(
        "prompt_labels",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["prompts.name"],
            name=op.f("fk_prompt_labels_name_prompts"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "label", name=op.f("pk_prompt_labels")),
    )
    op.create_table(
        "prompt_label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_label_history")),
    )
    op.create_index("ix_prompt_label_history_name_label", "prompt_label_history", ["name", "label"])
    op.create_table(
        "prompt_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=256), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["prompt_versions.name", "prompt_versions.version"],
            name=op.f("fk_prompt_reviews_name_prompt_versions"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_reviews")),
    )
    op.create_index("ix_prompt_reviews_version", "prompt_reviews", ["name", "version"])


def downgrade() -> None:
    op.drop_index("ix_prompt_reviews_version", table_name="prompt_reviews")
    op.drop_table("prompt_reviews")
    op.drop_index("ix_prompt_label_history_name_label", table_name="prompt_label_history")
    op.drop_table("prompt_label_history")
    op.drop_table("prompt_labels")
    op.drop_index("ix_prompt_versions_digest", table_name="prompt_versions")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
