"""Tables owned by the MLflow-compatibility layer.

MLflow 3's "logged models" have no counterpart among mloop's own concepts: mloop keeps a
logged model's files in its source run's artifacts (``<run>/artifacts/<name>``), where the
UI, the SDK and the registry already find model directories. This table holds the rest of
what MLflow clients read back: the model id, status, tags and params.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from mloop.store.schema import metadata

logged_models = Table(
    "mlflow_logged_models",
    metadata,
    Column("model_id", String(40), primary_key=True),
    Column("experiment_id", String(32), nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("storage_path", String(1024), nullable=False),
    Column("model_type", String(256), nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("user_id", String(256), nullable=False, default=""),
    # Written and read whole by this layer only; MLflow clients set a handful of each.
    Column("tags_json", Text, nullable=False, default="{}"),
    Column("params_json", Text, nullable=False, default="{}"),
    Column("output_step", Integer, nullable=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_mlflow_logged_models_run_name", "run_id", "name"),
    Index("ix_mlflow_logged_models_experiment", "experiment_id", "creation_time"),
)
