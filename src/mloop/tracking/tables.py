"""Tables owned by the tracking domain."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    column,
    func,
    literal_column,
)

from mloop.store.schema import metadata

# Params and tags are searched by value, but values may be thousands of characters and a
# PostgreSQL B-tree entry must stay under 2,704 bytes: their index holds a prefix of the
# value; search compares the prefix (index) and the whole value (exact).
VALUE_PREFIX_LENGTH = 200


def value_prefix(column: Any) -> Any:
    """The indexed prefix of a param or tag value."""
    # Constants, not bound parameters: a query matches the index only if its expression
    # is written exactly as the index's.
    return func.substr(column, literal_column("1"), literal_column(str(VALUE_PREFIX_LENGTH)))


def value_prefix_index(name: str, key: str, value: str, run_id: str) -> Index:
    return Index(name, column(key), value_prefix(column(value)), column(run_id))


experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    # The location an MLflow client declared when it is not where mloop stores the files
    # (s3://..., an absolute path): returned as given, never written to.
    Column("declared_location", Text, nullable=True),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("run_name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("parent_run_id", String(32), ForeignKey("runs.run_id"), nullable=True),
    Column("user_id", String(256), nullable=False, default=""),
    Column("artifact_uri", Text, nullable=False),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_parent", "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    value_prefix_index("ix_params_key_value", "key", "value", "run_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    value_prefix_index("ix_tags_key_value", "key", "value", "run_id"),
)

# Metric history, stored in chunks: each row holds the values one batch logged for one key,
# as little-endian arrays (int64 steps and timestamps, float64 values; NaN kept as is).
# Ingesting 100,000 values is then a handful of row inserts instead of 100,000.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("count", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("step_data", LargeBinary, nullable=False),
    Column("timestamp_data", LargeBinary, nullable=False),
    Column("value_data", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_key", "run_id", "key"),
)

# The value with the highest (step, timestamp) per run and key: what search and tables show.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    # run_id included so that search reads matching runs from the index alone.
    Index("ix_latest_metrics_key_value", "key", "value", "run_id"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("context", String(64), primary_key=True),
    Column("source", Text, nullable=False, default=""),
    Column("source_type", String(64), nullable=False, default=""),
    Column("schema_json", Text, nullable=True),
    Column("profile", Text, nullable=True),
    # The input's tags as logged: a JSON list of [key, value] pairs, order kept.
    Column("tags_json", Text, nullable=True),
    # Lineage: which runs read the data with a given digest (mloop.tracking.runs.runs_with_input).
    Index("ix_run_inputs_digest", "digest"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Batch ids already applied, so a batch replayed after a lost response is not stored twice.
ingested_batches = Table(
    "ingested_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
