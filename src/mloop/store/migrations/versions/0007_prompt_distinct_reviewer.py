"""Prompt policies say whether an approval needs a reviewer other than the author

Every existing prompt keeps the four-eyes rule (true); a single-user setup turns it off with
``mloop prompts policy NAME --allow-self-approval``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD/DROP COLUMN, not batch_alter_table: on SQLite a batch rebuilds the table and
# loses the expression index ux_prompts_lower_name (0006), which it cannot reflect.


def upgrade() -> None:
    op.add_column(
        "prompts",
        sa.Column(
            "require_distinct_reviewer", sa.Boolean(), nullable=False, server_default=sa.true()
        ),
    )


def downgrade() -> None:
    op.drop_column("prompts", "require_distinct_reviewer")
