"""The LLM gateway's call log and encrypted provider keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=256), nullable=True),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("requested_model", sa.String(length=256), nullable=False),
        sa.Column("prompt_name", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("token_name", sa.String(length=256), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_exact", sa.String(length=64), nullable=False),
        sa.Column("cache", sa.String(length=16), nullable=False),
        sa.Column("saved_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("attempts_json", sa.Text(), nullable=False),
        sa.Column("guardrails_json", sa.Text(), nullable=False),
        sa.Column("capture", sa.String(length=16), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=True),
        sa.Column("response_json", sa.Text(), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    op.create_index("ix_llm_calls_time", "llm_calls", ["time"])
    op.create_index("ix_llm_calls_route_time", "llm_calls", ["route", "time"])
    op.create_index("ix_llm_calls_token_time", "llm_calls", ["token_name", "time"])
    op.create_index("ix_llm_calls_project_time", "llm_calls", ["project", "time"])
    op.create_table(
        "llm_secrets",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_llm_secrets")),
    )


def downgrade() -> None:
    op.drop_table("llm_secrets")
    op.drop_index("ix_llm_calls_project_time", table_name="llm_calls")
    op.drop_index("ix_llm_calls_token_time", table_name="llm_calls")
    op.drop_index("ix_llm_calls_route_time", table_name="llm_calls")
    op.drop_index("ix_llm_calls_time", table_name="llm_calls")
    op.drop_table("llm_calls")
