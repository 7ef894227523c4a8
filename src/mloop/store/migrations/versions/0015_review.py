"""Human review: queues, routing and sampling policies, items, slots, answers, skips, comments

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_queues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("choices_json", sa.Text(), nullable=False),
        sa.Column("free_text", sa.Boolean(), nullable=False),
        sa.Column("rating_scale", sa.Integer(), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("agreement_threshold", sa.Float(), nullable=False),
        sa.Column("reviewers_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queues")),
    )
    op.create_index("ux_review_queues_name", "review_queues", ["name"], unique=True)
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("prediction_json", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=256), nullable=True),
        sa.Column("prompt_name", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sort_key", sa.Float(), nullable=False),
        sa.Column("answers_needed", sa.Integer(), nullable=False),
        sa.Column("answers_count", sa.Integer(), nullable=False),
        sa.Column("assignee", sa.String(length=256), nullable=True),
        sa.Column("final_label_json", sa.Text(), nullable=True),
        sa.Column("final_rating", sa.Float(), nullable=True),
        sa.Column("agreement", sa.Float(), nullable=True),
        sa.Column("low_agreement", sa.Boolean(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=True),
        sa.Column("escalated_by", sa.String(length=256), nullable=True),
        sa.Column("escalation_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["review_queues.id"], name=op.f("fk_review_items_queue_id_review_queues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    op.create_index(
        "ix_review_items_completed", "review_items", ["queue_id", "completed_at"], unique=False
    )
    op.create_index(
        "ix_review_items_queue_status",
        "review_items",
        ["queue_id", "status", "sort_key", "id"],
        unique=False,
    )
    op.create_index(
        "ux_review_items_request", "review_items", ["queue_id", "request_id"], unique=True
    )
    op.create_table(
        "review_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sampled_until", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.id"],
            name=op.f("fk_review_policies_queue_id_review_queues"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_policies")),
    )
    op.create_index(
        "ux_review_policies_target",
        "review_policies",
        ["kind", "target_kind", "target", "queue_id"],
        unique=True,
    )
    op.create_table(
        "review_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=256), nullable=False),
        sa.Column("label_json", sa.Text(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_answers_item_id_review_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_answers")),
    )
    op.create_index(
        "ix_review_answers_queue_time", "review_answers", ["queue_id", "created_at"], unique=False
    )
    op.create_index(
        "ux_review_answers_reviewer", "review_answers", ["item_id", "reviewer"], unique=True
    )
    op.create_table(
        "review_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_comments_item_id_review_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_comments")),
    )
    op.create_index("ix_review_comments_item", "review_comments", ["item_id", "id"], unique=False)
    op.create_table(
        "review_skips",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_skips_item_id_review_items")
        ),
        sa.PrimaryKeyConstraint("item_id", "reviewer", name=op.f("pk_review_skips")),
    )
    op.create_table(
        "review_slots",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("sort_key", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=256), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_slots_item_id_review_items")
        ),
        sa.PrimaryKeyConstraint("item_id", "slot", name=op.f("pk_review_slots")),
    )
    op.create_index(
        "ix_review_slots_next",
        "review_slots",
        ["queue_id", "state", "sort_key", "item_id"],
        unique=False,
    )
    op.create_index(
        "ux_review_slots_reviewer", "review_slots", ["item_id", "reviewer"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_review_slots_reviewer", table_name="review_slots")
    op.drop_index("ix_review_slots_next", table_name="review_slots")
    op.drop_table("review_slots")
    op.drop_table("review_skips")
    op.drop_index("ix_review_comments_item", table_name="review_comments")
    op.drop_table("review_comments")
    op.drop_index("ux_review_answers_reviewer", table_name="review_answers")
    op.drop_index("ix_review_answers_queue_time", table_name="review_answers")
    op.drop_table("review_answers")
    op.drop_index("ux_review_policies_target", table_name="review_policies")
    op.drop_table("review_policies")
    op.drop_index("ux_review_items_request", table_name="review_items")
    op.drop_index("ix_review_items_queue_status", table_name="review_items")
    op.drop_index("ix_review_items_completed", table_name="review_items")
    op.drop_table("review_items")
    op.drop_index("ux_review_queues_name", table_name="review_queues")
    op.drop_table("review_queues")
