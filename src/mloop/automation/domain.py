"""The automation domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="automation",
    summary="Automation: a job queue with leases run by `mloop worker`, and triggers (cron, "
    "monitor alerts, new labels, new dataset versions, manual, API, webhooks) that start "
    "pipelines and deployment policies",
    operations="mloop.automation.ops:operations",
    handlers=(
        "mloop.automation.jobs_api",
        "mloop.automation.triggers_api",
        "mloop.automation.policies",
        "mloop.automation.policy_runs",
        "mloop.automation.policy_jobs",
        "mloop.automation.approvals",
        "mloop.automation.timeline",
    ),
    tables=("mloop.automation.tables", "mloop.automation.policy_tables"),
    http=("mloop.automation.webhooks:webhook_http",),
    pages=("mloop.server.ui.automation", "mloop.server.ui.policies"),
)
