"""Tables owned by the pipelines domain: pipeline runs, their steps, and the step cache.

A pipeline run is also a tracking run (``run_id``): its params, tags, metrics, inputs
(dataset versions read) and the model versions registered from it live in the tracking and
registry domains; these tables hold what only a pipeline has: the step graph, each step's
status, attempts, timings and log tail, and which cached outputs may be reused. Every time
is integer milliseconds (UTC).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.schema import metadata

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(256), nullable=False),
    # Where the pipeline's code lives ("package.module:function").
    Column("ref", String(512), nullable=False),
    # The tracking run the pipeline ran as (its steps log to it, models register from it).
    Column("run_id", String(32), nullable=False),
    # running | succeeded | failed
    Column("status", String(16), nullable=False),
    # local | ray | the class name of a custom executor
    Column("executor", String(64), nullable=False),
    # What started it: "manual", "api", "trigger:<name>"... ("" when not said).
    Column("trigger", String(256), nullable=False),
    Column("params_json", Text, nullable=False),
    # The step graph: nodes with their step, upstream nodes and options.
    Column("graph_json", Text, nullable=False),
    # The pipeline's return value as JSON when it is one (NULL while running or failed).
    Column("outputs_json", Text, nullable=True),
    Column("error", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Index("ix_pipeline_runs_pipeline", "pipeline", "start_time"),
    Index("ix_pipeline_runs_start", "start_time"),
    Index("ix_pipeline_runs_run_id", "run_id"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False),
    # The node in the graph ("train", "train_2" for a second call of the same step).
    Column("node", String(256), nullable=False),
    Column("step", String(256), nullable=False),
    # pending | running | succeeded | failed | cached | skipped
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # A JSON list, one entry per attempt: start, end, status, error.
    Column("attempts_json", Text, nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("cache_hit", Boolean, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    # The last few KiB of what the step printed (stdout and stderr).
    Column("log_tail", Text, nullable=False),
    Column("error", Text, nullable=False),
    Index("ux_pipeline_steps_node", "pipeline_run_id", "node", unique=True),
)

pipeline_cache = Table(
    "pipeline_cache",
    metadata,
    # sha256 over the step's identity, its source code and its inputs' digests.
    Column("key", String(64), primary_key=True),
    Column("step", String(256), nullable=False),
    # json | npy | parquet: always a format that loads without running code.
    Column("format", String(16), nullable=False),
    # The output is an artifact of this tracking run, at this path ("" when inline).
    Column("run_id", String(32), nullable=False),
    Column("path", String(512), nullable=False),
    # A small JSON output is kept here instead (no artifact to write and read back).
    Column("inline", Text, nullable=True),
    # sha256 of the stored bytes (the digest downstream cache keys use).
    Column("digest", String(64), nullable=False),
    Column("pipeline_run_id", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
