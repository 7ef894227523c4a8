"""Demo step: the loan model's doubtful answers go to people, and their labels retrain it.

The loan-approval endpoint gets a routing policy: a prediction whose top class probability
is under 0.7 is flagged ``needs_review`` and queued. A day of fresh (still shocked) traffic
goes through the serving runtime; the doubtful share lands in the ``loan-review`` queue.
Two SIMULATED reviewers (the demo answers for them, from the applicants' known outcome,
each wrong now and then) answer every item twice over, so the queue measures their
agreement. Each item's majority label becomes ground truth for its request in the inference
log, and the labels become a dataset version that the continuous-training step's retraining
pipeline reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mloop.cli._output import print_table
from mloop.cli.demo._context import DemoContext, DemoStep
from mloop.cli.demo._loans import ENDPOINT, applications, repaid

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from mloop.store.runtime import Runtime

QUEUE = "loan-review"
REQUESTS = 600
THRESHOLD = 0.7
# Simulated reviewers and how often each gives the applicant's true outcome.
REVIEWERS = {"simulated-reviewer-a": 0.95, "simulated-reviewer-b": 0.85}


@dataclass
class ReviewStory:
    """What the summary shows."""

    requests: int = 0
    routed: int = 0
    answered: int = 0
    changed_share: float | None = None
    agreement: float | None = None
    low_agreement: int = 0
    labelled_in_log: int = 0
    dataset: str = ""


async def _traffic(runtime: Runtime, rng: np.random.Generator) -> tuple[dict[str, int], int]:
    """A day of applications through the serving runtime with review routing on; each
    request's true outcome, and how many were answered ``needs_review``."""
    from mloop.review.routing import ReviewRouter
    from mloop.serving.formats import parse_request
    from mloop.serving.service import ServingService
    from mloop.store.eventlog.inference import InferenceLog

    service = ServingService(
        runtime, inference_log=InferenceLog(runtime), review=ReviewRouter(runtime)
    )
    truth: dict[str, int] = {}
    flagged = 0
    try:
        frame = applications(rng, REQUESTS, shock=True)
        outcome_of = repaid(rng, frame)
        for i, row in enumerate(frame.to_dict(orient="records")):
            outcome = await service.invoke(ENDPOINT, parse_request(orjson.dumps({"inputs": [row]})))
            truth[outcome.request_id] = int(outcome_of[i])
            flagged += outcome.review is not None
    finally:
        await service.aclose()  # waits for the queued items to be written
    return truth, flagged


def _handled(op: Any, request: Any) -> Callable[[Any], Any]:
    """``op``'s handler on ``request``, for ``runtime.run`` as a given reviewer."""
    return lambda ctx: op.handler(ctx, request)


def _simulated_reviews(runtime: Runtime, rng: np.random.Generator, truth: dict[str, int]) -> int:
    """Each simulated reviewer claims and answers until the queue has nothing for them."""
    from mloop.domains import find_operation

    claim, submit = find_operation("next_review_item"), find_operation("submit_review_answer")
    answered = 0
    for reviewer, accuracy in REVIEWERS.items():
        while True:
            claimed = runtime.run(
                lambda ctx: claim.handler(ctx, claim.request(queue=QUEUE)),
                write=True,
                actor=reviewer,
            )
            if claimed.item is None:
                break
            right = truth[claimed.item.request_id]
            label = right if rng.random() < accuracy else 1 - right
            request = submit.request(id=claimed.item.id, label=label, comment="simulated reviewer")
            runtime.run(_handled(submit, request), write=True, actor=reviewer)
            answered += 1
    return answered


def _labelled_in_log(runtime: Runtime, ids: list[str]) -> int:
    from mloop.store.eventlog.inference import InferenceLog

    table = InferenceLog(runtime).read_labeled(endpoints=[ENDPOINT], columns=["request_id"])
    wanted = set(ids)
    return sum(
        1
        for r, label in zip(
            table.column("request_id").to_pylist(), table.column("label").to_pylist(), strict=True
        )
        if r in wanted and label is not None
    )


def run_review_step(ctx: DemoContext) -> None:
    """Route doubtful loan decisions to people, answer them, and keep their labels."""
    import numpy as np

    import mloop.review as review

    ctx.begin(3)
    rng = np.random.default_rng(ctx.config.seed + 16)
    story = ReviewStory()
    review.create_queue(
        QUEUE,
        description="Loan decisions the model is unsure of",
        instructions="Would this applicant repay? 1: yes, 0: no.",
        choices=[0, 1],
        overlap=2,
        agreement_threshold=0.6,
    )
    review.route(ENDPOINT, QUEUE, threshold=THRESHOLD, on_route="flag", max_share=0.5)
    runtime = ctx.open_store()
    try:
        truth, flagged = asyncio.run(_traffic(runtime, rng))
        story.requests, story.routed = len(truth), flagged
        ctx.advance()
        story.answered = _simulated_reviews(runtime, rng, truth)
        ctx.advance()
        stats = review.stats(QUEUE)
        story.changed_share = stats.changed_share
        story.agreement = stats.agreement
        story.low_agreement = stats.low_agreement_items
        done = [i.request_id for i in review.list_items(QUEUE, status="done")]
        story.labelled_in_log = _labelled_in_log(runtime, done)
    finally:
        runtime.close()
    version = review.labels_to_dataset(QUEUE)
    story.dataset = f"{version.name}/{version.version}"
    ctx.keep(story)
    ctx.advance()


def summarise(ctx: DemoContext, out: Console) -> None:
    story = ctx.kept(ReviewStory)
    if story is None:
        return
    out.print(
        f"\nReview: [bold]{story.routed}[/bold] of {story.requests} loan decisions were under "
        f"{THRESHOLD:.0%} confidence and went to queue [bold]{QUEUE}[/bold]; two SIMULATED "
        f"reviewers answered each ({story.answered} answers)."
    )
    print_table(
        None,
        ["agreement (kappa)", "low agreement", "changed the model", "labels in the log", "dataset"],
        [
            (
                "-" if story.agreement is None else f"{story.agreement:.2f}",
                str(story.low_agreement),
                "-" if story.changed_share is None else f"{story.changed_share:.0%}",
                str(story.labelled_in_log),
                story.dataset,
            )
        ],
    )


STEP = DemoStep(
    "review", "Routing doubtful loan decisions to reviewers", run_review_step, summarise
)
