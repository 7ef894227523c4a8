"""The tracking domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="tracking",
    summary="Experiments, runs, params, metrics, tags, inputs and artifacts",
    operations="mloop.tracking.ops:operations",
    handlers=(
        "mloop.tracking.experiments",
        "mloop.tracking.runs",
        "mloop.tracking.ingest",
        "mloop.tracking.artifacts",
    ),
    tables=("mloop.tracking.tables",),
    files="mloop.tracking.file_routes:FILE_ROUTES",
    pages=("mloop.server.ui.experiments", "mloop.server.ui.runs", "mloop.server.ui.artifacts"),
)
