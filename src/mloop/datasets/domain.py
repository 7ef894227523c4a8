"""The datasets domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="datasets",
    summary="Versioned datasets with profiles, aliases, contract policies and lineage",
    operations="mloop.datasets.ops:operations",
    handlers=(
        "mloop.datasets.catalog",
        "mloop.datasets.versions",
        "mloop.datasets.aliases",
        "mloop.datasets.policies",
        "mloop.datasets.validations",
        "mloop.datasets.lineage",
    ),
    tables=("mloop.datasets.tables",),
    files="mloop.datasets.file_routes:FILE_ROUTES",
    pages=("mloop.server.ui.datasets",),
)
