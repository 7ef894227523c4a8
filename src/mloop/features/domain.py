"""The features domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="features",
    summary="A feature store: entities, feature views, on-demand features and feature "
    "services defined once in Python, point-in-time correct offline retrieval and an "
    "online store",
    operations="mloop.features.ops:operations",
    handlers=(
        "mloop.features.registry",
        "mloop.features.freshness",
        "mloop.features.profiles",
        "mloop.features.online.handlers",
    ),
    tables=("mloop.features.tables",),
    http=("mloop.features.freshness:features_http",),
    pages=("mloop.server.ui.features",),
)
