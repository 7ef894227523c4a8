"""The pipelines domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="pipelines",
    summary="Pipelines of Python steps: runs, step status, attempts and timings, the step "
    "cache, and lineage from data versions in to model versions out",
    operations="mloop.pipelines.ops:operations",
    handlers=("mloop.pipelines.records", "mloop.pipelines.queries"),
    tables=("mloop.pipelines.tables",),
    pages=("mloop.server.ui.pipelines",),
)
