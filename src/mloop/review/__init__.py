"""Human review: doubtful predictions and sampled traffic go to people, whose answers become
labels.

An endpoint's routing policy sends predictions the model is unsure of to a review queue
(:mod:`mloop.review.routing`); sampling policies add a random share of an endpoint's or LLM
gateway route's traffic (:mod:`mloop.review.sampling`). Reviewers claim items with a lease
(:mod:`mloop.review.claims`) and answer them once (:mod:`mloop.review.answers`); an item
needing several answers measures their agreement (:mod:`mloop.review.agreement`). A
completed item's label becomes ground truth for its request in the inference log.

The SDK (:mod:`mloop.review.sdk`) is re-exported here::

    import mloop.review as review

    review.create_queue("loans", choices=["approve", "reject"])
    review.route("loans", "loans", threshold=0.7)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

_SDK = (
    "add_items",
    "comment",
    "count_labels",
    "create_queue",
    "escalate",
    "get_item",
    "get_queue",
    "item_for_request",
    "list_items",
    "list_queues",
    "next_item",
    "release",
    "resolve",
    "route",
    "run_sampling",
    "sample",
    "skip",
    "stats",
    "submit",
)
_EXCHANGE = ("export_jsonl", "export_label_studio", "import_jsonl", "labels_to_dataset")
EXPORTS: dict[str, str] = {
    **dict.fromkeys(_SDK, "mloop.review.sdk"),
    **dict.fromkeys(_EXCHANGE, "mloop.review.exchange"),
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.review.exchange import (
        export_jsonl,
        export_label_studio,
        import_jsonl,
        labels_to_dataset,
    )
    from mloop.review.sdk import (
        add_items,
        comment,
        count_labels,
        create_queue,
        escalate,
        get_item,
        get_queue,
        item_for_request,
        list_items,
        list_queues,
        next_item,
        release,
        resolve,
        route,
        run_sampling,
        sample,
        skip,
        stats,
        submit,
    )
