"""The model registry's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="registry",
    summary="Registered models, immutable versions, aliases with an audit trail",
    operations="mloop.registry.ops:operations",
    handlers=(
        "mloop.registry.models",
        "mloop.registry.versions",
        "mloop.registry.aliases",
        "mloop.registry.files",
    ),
    tables=("mloop.registry.tables",),
    files="mloop.registry.file_routes:FILE_ROUTES",
    pages=("mloop.server.ui.models",),
)
