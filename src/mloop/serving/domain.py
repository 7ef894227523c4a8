"""The serving domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="serving",
    summary="Endpoints serving registered model versions with single, blue/green, canary and "
    "shadow deployments, audited and rolled back in one step",
    operations="mloop.serving.ops:operations",
    handlers=(
        "mloop.serving.endpoints",
        "mloop.serving.deployments",
        "mloop.serving.events",
        "mloop.serving.rollouts",
        "mloop.serving.evaluator",
        "mloop.serving.labels",
        "mloop.serving.ab",
        "mloop.llm.rollouts.policy",
        "mloop.llm.rollouts.checks",
    ),
    tables=("mloop.serving.tables",),
    http=("mloop.serving.http:serving_http",),
    pages=("mloop.server.ui.endpoints",),
)
