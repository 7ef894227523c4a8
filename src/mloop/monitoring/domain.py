"""The monitoring domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="monitoring",
    summary="Monitors that compare windows of an endpoint's inference log with a reference "
    "(drift, data quality, performance, bias) and raise alerts",
    operations="mloop.monitoring.ops:operations",
    handlers=("mloop.monitoring.monitors", "mloop.monitoring.runs"),
    tables=("mloop.monitoring.tables",),
    http=("mloop.monitoring.scheduler:monitoring_http",),
    pages=("mloop.server.ui.monitors",),
)
