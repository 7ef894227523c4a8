"""The review domain's declaration."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="review",
    summary="Review queues: doubtful predictions and sampled traffic put before people, "
    "whose answers become labels for monitoring and retraining",
    operations="mloop.review.ops:operations",
    handlers=(
        "mloop.review.queues",
        "mloop.review.items",
        "mloop.review.claims",
        "mloop.review.answers",
        "mloop.review.policies",
        "mloop.review.sampling",
        "mloop.review.dashboard",
    ),
    tables=("mloop.review.tables",),
    http=("mloop.review.sampling:review_http",),
    pages=("mloop.server.ui.review",),
)
