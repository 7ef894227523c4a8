"""The alerts domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="alerts",
    summary="Rules over any metric (threshold, change against a reference, N windows in a "
    "row) that raise deduplicated alerts, notify channels and keep an audited history",
    operations="mloop.alerts.ops:operations",
    handlers=(
        "mloop.alerts.rules",
        "mloop.alerts.channels",
        "mloop.alerts.history",
        "mloop.alerts.evaluate",
        "mloop.alerts.events",
        "mloop.alerts.delivery",
    ),
    tables=("mloop.alerts.tables",),
    http=("mloop.alerts.workers:alerts_http",),
    pages=("mloop.server.ui.alerts",),
)
