"""Tables owned by the monitoring domain: monitors and their computed windows.

A monitor keeps its specification as JSON and, once computed, its reference's per-column
summaries (``reference_json``), so that each window is compared without reading the
reference data again. Each window's result is one row: the flat metrics that alert rules
and charts read, the full report, and the window's own summaries (merged into a rolling
reference, drawn as histograms). Computing a window again replaces its row.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from mloop.store.assets import asset_columns, lower_name_index
from mloop.store.schema import metadata

monitors = Table(
    "monitors",
    metadata,
    *asset_columns(),
    # What is watched: an endpoint's inference log, or a dataset (the other is null).
    Column("endpoint", String(256), nullable=True),
    Column("dataset", String(256), nullable=True),
    Column("spec_json", Text, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Column("reference_json", Text, nullable=True),
    Column("reference_time", BigInteger, nullable=True),
    Column("reference_rows", BigInteger, nullable=True),
    # The end of the newest window computed so far (the schedule's bookmark).
    Column("last_window_end", BigInteger, nullable=True),
)
lower_name_index(monitors)
Index("ix_monitors_endpoint", monitors.c.endpoint)
Index("ix_monitors_dataset", monitors.c.dataset)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "monitor",
        String(256),
        ForeignKey("monitors.name", ondelete="CASCADE", onupdate="CASCADE"),
        nullable=False,
    ),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # ok | empty | failed
    Column("rows", BigInteger, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("summary_json", Text, nullable=True),
    Column("alerts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("computed_at", BigInteger, nullable=False),
)
Index(
    "ux_monitor_windows_start",
    monitor_windows.c.monitor,
    monitor_windows.c.window_start,
    unique=True,
)
