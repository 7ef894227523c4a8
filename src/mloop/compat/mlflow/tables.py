"""Tables owned by the MLflow-compatibility layer.

MLflow 3's "logged models" have no counterpart among mloop's own concepts. A model logged
inside a run keeps its files in that run's artifacts (``<run>/artifacts/<name>``), where the
UI, the SDK and the registry already find model directories; a model created on its own
(``mlflow.initialize_logged_model``, external models, ``set_active_model``) has no run, so
its files live at ``<experiment artifact root>/models/<model_id>/artifacts``. These tables
hold the rest of what MLflow clients read back and search on: the model's id, status, tags,
params and the metrics linked to it.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.schema import metadata

logged_models = Table(
    "mlflow_logged_models",
    metadata,
    Column("model_id", String(40), primary_key=True),
    Column("experiment_id", String(32), nullable=False),
    # The run that produced the model, as the client named it; null for a model of its own.
    Column("run_id", String(32), nullable=True),
    Column("name", String(256), nullable=False),
    Column("storage_path", String(1024), nullable=False),
    Column("model_type", String(256), nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("user_id", String(256), nullable=False, default=""),
    Column("output_step", Integer, nullable=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_mlflow_logged_models_run_name", "run_id", "name"),
    Index("ix_mlflow_logged_models_experiment", "experiment_id", "creation_time"),
)

# Tags and params are rows, not a JSON column, so search can filter on ``tags.x``/``params.x``.
logged_model_tags = Table(
    "mlflow_logged_model_tags",
    metadata,
    Column(
        "model_id",
        String(40),
        ForeignKey("mlflow_logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_params = Table(
    "mlflow_logged_model_params",
    metadata,
    Column(
        "model_id",
        String(40),
        ForeignKey("mlflow_logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# Metrics linked to a model (``mlflow.log_metric(..., model_id=...)``): every value is kept,
# like MLflow's logged_model_metrics, and search orders by the newest one per key.
logged_model_metrics = Table(
    "mlflow_logged_model_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        String(40),
        ForeignKey("mlflow_logged_models.model_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(250), nullable=False),
    # NaN is stored as null with is_nan set, as in latest_metrics: SQLite has no NaN.
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("dataset_name", String(500), nullable=True),
    Column("dataset_digest", String(64), nullable=True),
    Index("ix_mlflow_logged_model_metrics_model_key", "model_id", "key"),
    Index("ix_mlflow_logged_model_metrics_key_value", "key", "value"),
)

# A run's links to logged models, as MLflow 3 records them: models it read (``log_inputs``
# with ``models``) and models it produced, at a step (``log_outputs``). The model is not
# checked, as in MLflow: a link may name a model created elsewhere or later.
run_model_links = Table(
    "mlflow_run_model_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "run_id",
        String(32),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("model_id", String(40), nullable=False),
    Column("direction", String(8), nullable=False),  # "input" or "output"
    Column("step", BigInteger, nullable=True),
    Index("ix_mlflow_run_model_links_run", "run_id", "direction"),
)
