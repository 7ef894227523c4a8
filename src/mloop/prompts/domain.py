"""The prompt registry's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="prompts",
    summary="Prompts as versioned assets with labels, reviews and diffs",
    operations="mloop.prompts.ops:operations",
    handlers=(
        "mloop.prompts.versions",
        "mloop.prompts.labels",
        "mloop.prompts.reviews",
        "mloop.prompts.render",
        "mloop.prompts.diff",
    ),
    tables=("mloop.prompts.tables",),
    pages=("mloop.server.ui.prompts",),
)
