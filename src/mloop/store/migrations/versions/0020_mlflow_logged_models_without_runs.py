"""MLflow logged models without a run; their tags, params and metrics as rows

A logged model may now be created on its own (``mlflow.initialize_logged_model``), so its
run id becomes nullable. Tags and params move from JSON columns to tables so that
``search_logged_models`` can filter on them, and a new table keeps the metrics linked to a
model (``mlflow.log_metric(..., model_id=...)``). Existing tags and params are copied over.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 09:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_models = sa.table(
    "mlflow_logged_models",
    sa.column("model_id", sa.String()),
    sa.column("run_id", sa.String()),
    sa.column("tags_json", sa.Text()),
    sa.column("params_json", sa.Text()),
)


def _pairs_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["mlflow_logged_models.model_id"],
            name=op.f(f"fk_{name}_model_id_mlflow_logged_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "key", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    bind = op.get_bind()
    # Read the JSON columns before the batch below drops them.
    rows = bind.execute(
        sa.select(_models.c.model_id, _models.c.tags_json, _models.c.params_json)
    ).all()
    with op.batch_alter_table("mlflow_logged_models", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.drop_column("tags_json")
        batch_op.drop_column("params_json")
    _pairs_table("mlflow_logged_model_tags")
    _pairs_table("mlflow_logged_model_params")
    op.create_table(
        "mlflow_logged_model_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["mlflow_logged_models.model_id"],
            name=op.f("fk_mlflow_logged_model_metrics_model_id_mlflow_logged_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_logged_model_metrics")),
    )
    op.create_index(
        "ix_mlflow_logged_model_metrics_model_key",
        "mlflow_logged_model_metrics",
        ["model_id", "key"],
        unique=False,
    )
    op.create_index(
        "ix_mlflow_logged_model_metrics_key_value",
        "mlflow_logged_model_metrics",
        ["key", "value"],
        unique=False,
    )
    for name, column in (("mlflow_logged_model_tags", 1), ("mlflow_logged_model_params", 2)):
        values = [
            {"model_id": row[0], "key": key, "value": value}
            for row in rows
            for key, value in json.loads(row[column] or "{}").items()
        ]
        if values:
            target = sa.table(name, sa.column("model_id"), sa.column("key"), sa.column("value"))
            op.bulk_insert(target, values)


def downgrade() -> None:
    bind = op.get_bind()
    pairs: dict[str, dict[str, dict[str, str]]] = {}
    for name in ("mlflow_logged_model_tags", "mlflow_logged_model_params"):
        table = sa.table(name, sa.column("model_id"), sa.column("key"), sa.column("value"))
        found: dict[str, dict[str, str]] = {}
        for model_id, key, value in bind.execute(
            sa.select(table.c.model_id, table.c.key, table.c.value)
        ):
            found.setdefault(model_id, {})[key] = value
        pairs[name] = found
    op.drop_index(
        "ix_mlflow_logged_model_metrics_key_value", table_name="mlflow_logged_model_metrics"
    )
    op.drop_index(
        "ix_mlflow_logged_model_metrics_model_key", table_name="mlflow_logged_model_metrics"
    )
    op.drop_table("mlflow_logged_model_metrics")
    op.drop_table("mlflow_logged_model_params")
    op.drop_table("mlflow_logged_model_tags")
    # The older schema cannot hold a model without a run: those rows go (their files stay).
    bind.execute(sa.delete(_models).where(_models.c.run_id.is_(None)))
    with op.batch_alter_table("mlflow_logged_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags_json", sa.Text(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("params_json", sa.Text(), nullable=False, server_default="{}")
        )
        batch_op.alter_column("run_id", existing_type=sa.String(length=32), nullable=False)
    for model_id in {*pairs["mlflow_logged_model_tags"], *pairs["mlflow_logged_model_params"]}:
        bind.execute(
            sa.update(_models)
            .where(_models.c.model_id == model_id)
            .values(
                tags_json=json.dumps(pairs["mlflow_logged_model_tags"].get(model_id, {})),
                params_json=json.dumps(pairs["mlflow_logged_model_params"].get(model_id, {})),
            )
        )
