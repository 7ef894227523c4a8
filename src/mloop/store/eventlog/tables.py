"""The segment index of the event logs: one row per Parquet segment in the artifact store.

The index is what makes a read cheap: a reader asks it which segments of a source overlap a
set of partition keys and a time range, and opens only those files. It holds no events.
This module imports SQLAlchemy only, so migrations load it without pyarrow or DuckDB.
"""

from sqlalchemy import BigInteger, Column, Index, String, Table

from mloop.store.schema import metadata

event_log_segments = Table(
    "event_log_segments",
    metadata,
    Column("id", String(32), primary_key=True),  # also the file's name
    Column("source", String(128), nullable=False),  # the log: "inference", "inference-labels"
    Column("partition_key", String(256), nullable=False),  # e.g. the endpoint's name
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC) of every event in it
    Column("path", String(1024), nullable=False),  # relative to the artifact root
    Column("row_count", BigInteger, nullable=False),
    Column("min_time", BigInteger, nullable=False),  # ms since the epoch, of its events
    Column("max_time", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    # Set when retention starts deleting the segment: readers skip it from then on, and the
    # row goes only once its file is gone, so a prune that stops half-way is finished later.
    Column("deletion_time", BigInteger, nullable=True),
    Index("ix_event_log_segments_source_key_day", "source", "partition_key", "day"),
    Index("ix_event_log_segments_source_max_time", "source", "max_time"),
)
