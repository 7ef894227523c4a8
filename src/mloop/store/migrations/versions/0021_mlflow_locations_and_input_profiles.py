"""Experiments keep the artifact location their creator declared; inputs keep profile and tags

An MLflow client may create an experiment with an artifact location mloop does not write to
(``s3://...``, an absolute path); mloop stores the runs' files in its own store and keeps the
declared location to return it as given. A logged dataset input keeps its ``profile`` and its
input tags in the order logged (a JSON list of pairs). Both columns are nullable: rows written
before this revision have neither.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declared_location", sa.Text(), nullable=True))
    with op.batch_alter_table("run_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tags_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_inputs", schema=None) as batch_op:
        batch_op.drop_column("tags_json")
        batch_op.drop_column("profile")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("declared_location")
