"""Request and response messages of the review API."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, JsonValue, StrictBool, StrictFloat

from mloop.alerts.fields import Whole
from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, PageToken, text
from mloop.core.operations import Message

Priority = Literal["confidence", "oldest"]
ItemStatus = Literal["open", "done", "escalated"]
ItemSource = Literal["endpoint", "gateway", "import", "manual"]
Reason = Literal["confidence", "sample", "import", "manual"]
Criterion = Literal["confidence", "margin", "entropy"]
OnRoute = Literal["flag", "fallback", "pending"]

MAX_TEXT = 10_000
MAX_CHOICES = 100
MAX_ITEMS = 1000  # added in one call
MAX_LIST = 1000
MAX_ID = 2**31 - 1
MAX_OVERLAP = 10
MAX_REVIEWERS = 1000

Description = Annotated[str, Field(max_length=2000), text(2000)]
LongText = Annotated[str, Field(max_length=MAX_TEXT), text(MAX_TEXT)]
Reviewer = Annotated[str, Field(min_length=1, max_length=256), text(256)]
RequestId = Annotated[str, Field(min_length=1, max_length=256), text(256)]
# Whole's validator goes after the bounds: after it (``Annotated[Whole, Field(...)]``, or
# ``Whole | None = Field(...)``) the document shows pydantic's ge/le, not JSON Schema's
# minimum/maximum, and requests it calls valid (an id of 0) get 400.
_WHOLE = get_args(Whole)[1]  # its BeforeValidator
ItemId = Annotated[int, Field(ge=1, le=MAX_ID), _WHOLE]
Version = Annotated[int, Field(ge=1, le=MAX_ID), _WHOLE]
Rating = Annotated[int, Field(ge=1, le=10), _WHOLE]
Millis = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), _WHOLE]
Probability = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]


# -- queues ------------------------------------------------------------------------------


class QueueSpec(Message):
    """A review queue: what its reviewers see and answer, and how items are handed out.

    - ``choices``: the labels to pick from (``[]``: free text only); ``free_text`` lets a
      reviewer write an answer outside them (the correct answer of an LLM);
    - ``rating_scale``: 0 for none, N to rate each case 1..N (LLM answers);
    - ``overlap``: independent answers each item needs (agreement is measured from 2);
    - ``lease_seconds``: how long a claim holds an item before it returns to the queue;
    - ``priority``: ``confidence`` (least confident first) or ``oldest`` first;
    - ``agreement_threshold``: items whose answers agree less (share of agreeing pairs)
      are flagged;
    - ``reviewers``: who may answer (``[]``: every reviewer).
    """

    name: AssetName
    description: Description = ""
    instructions: LongText = ""
    choices: list[JsonValue] = Field(default_factory=list, max_length=MAX_CHOICES)
    free_text: StrictBool = False
    rating_scale: Whole = Field(default=0, ge=0, le=10)
    overlap: Whole = Field(default=1, ge=1, le=MAX_OVERLAP)
    lease_seconds: Whole = Field(default=600, ge=10, le=86_400)
    priority: Priority = "confidence"
    agreement_threshold: Probability = 0.5
    reviewers: list[Reviewer] = Field(default_factory=list, max_length=MAX_REVIEWERS)


class QueueCounts(Message):
    open: int = 0
    escalated: int = 0
    done: int = 0
    answers: int = 0


class Queue(QueueSpec):
    id: int
    created_by: str
    created_at: int
    updated_at: int
    counts: QueueCounts = Field(default_factory=QueueCounts)


class QueueName(Message):
    name: AssetName


class UpdateQueue(Message):
    """Change what can change once items exist (not the choices or the overlap)."""

    name: AssetName
    description: Description | None = None
    instructions: LongText | None = None
    lease_seconds: Annotated[int, Field(ge=10, le=86_400), _WHOLE] | None = None
    priority: Priority | None = None
    agreement_threshold: Probability | None = None
    reviewers: list[Reviewer] | None = Field(default=None, max_length=MAX_REVIEWERS)


class ListQueues(Message):
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)


class QueueList(Message):
    queues: list[Queue]


# -- items -------------------------------------------------------------------------------


class ImportedAnswer(Message):
    """An answer given elsewhere (a JSONL or Label Studio export), kept with the item."""

    reviewer: Reviewer
    label: JsonValue = None
    rating: Rating | None = None
    comment: LongText = ""
    created_at: Millis | None = None


class NewItem(Message):
    """One case to put before people. ``payload`` is what they see (inputs, features,
    messages, the answer); ``request_id`` ties it to the inference log (made up when absent)."""

    request_id: RequestId | None = None
    source: ItemSource = "manual"
    target: Annotated[str, Field(max_length=256), text(256)] = ""
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    prediction: JsonValue = None
    confidence: Probability | None = None
    model_name: AssetName | None = None
    model_version: Version | None = None
    variant: Annotated[str, Field(max_length=256), text(256)] | None = None
    prompt_name: AssetName | None = None
    prompt_version: Version | None = None
    reason: Reason = "manual"
    answers: list[ImportedAnswer] = Field(default_factory=list, max_length=MAX_OVERLAP)


class AddItems(Message):
    queue: AssetName
    items: list[NewItem] = Field(min_length=1, max_length=MAX_ITEMS)


class ItemsAdded(Message):
    """``ids`` in the order given; an item whose request id the queue already has is not
    added again (``existing``) and its id is the existing item's."""

    added: int
    existing: int
    ids: list[int]


class ReviewItem(Message):
    id: int
    queue: str
    source: ItemSource
    target: str
    request_id: str
    reason: Reason
    payload: dict[str, JsonValue]
    prediction: JsonValue = None
    confidence: float | None = None
    model_name: str | None = None
    model_version: int | None = None
    variant: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    status: ItemStatus
    answers_needed: int
    answers_count: int
    assignee: str | None = None
    final_label: JsonValue = None
    final_rating: float | None = None
    agreement: float | None = None
    low_agreement: bool = False
    changed: bool | None = None
    escalated_by: str | None = None
    escalation_note: str | None = None
    created_at: int
    updated_at: int
    completed_at: int | None = None


class Answer(Message):
    id: int
    item_id: int
    reviewer: str
    label: JsonValue = None
    rating: int | None = None
    comment: str = ""
    changed: bool | None = None
    seconds: float | None = None
    created_at: int


class Comment(Message):
    id: int
    item_id: int
    author: str
    text: str
    created_at: int


class Hold(Message):
    slot: int
    reviewer: str
    claimed_at: int
    lease_expires_at: int


class ItemDetail(Message):
    item: ReviewItem
    answers: list[Answer]
    comments: list[Comment]
    holders: list[Hold]


class ItemRef(Message):
    # A plain int: reads travel as query strings ("7").
    id: int = Field(ge=1, le=MAX_ID)


class ItemByRequest(Message):
    """The item of a request (what a caller told ``pending`` polls)."""

    request_id: RequestId
    queue: AssetName | None = None


class ListItems(Message):
    queue: AssetName
    status: ItemStatus | None = None
    reason: Reason | None = None
    # Plain bools: reads travel as query strings ("true").
    low_agreement: bool | None = None
    changed: bool | None = None
    answered_by: Reviewer | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)
    page_token: PageToken | None = Field(default=None, max_length=200)


class ItemList(Message):
    items: list[ReviewItem]
    next_page_token: str | None = None


class AssignItems(Message):
    """Give items to one reviewer (only they are offered them), or back to everyone
    (``reviewer`` null). ``ids`` empty: every open item of the queue not yet assigned."""

    queue: AssetName
    ids: list[ItemId] = Field(default_factory=list, max_length=MAX_ITEMS)
    reviewer: Reviewer | None = None


class Assigned(Message):
    assigned: int


# -- claiming and answering -------------------------------------------------------------


class NextItem(Message):
    queue: AssetName


class Claimed(Message):
    """The item claimed (or the one already held, its lease renewed); null when the queue
    has nothing left for this reviewer. ``remaining``: open items not yet answered."""

    item: ReviewItem | None = None
    lease_expires_at: int | None = None
    remaining: int = 0


class SubmitAnswer(Message):
    """An answer: a ``label`` (one of the queue's choices, free text where allowed, or a
    list with one per row of a multi-row request), a ``rating``, or both."""

    id: ItemId
    label: JsonValue = None
    rating: Rating | None = None
    comment: LongText = ""


class Submitted(Message):
    """``duplicate``: this reviewer had already given this answer; nothing changed."""

    answer: Answer
    item: ReviewItem
    duplicate: bool = False


class EscalateItem(Message):
    id: ItemId
    note: LongText = ""


class ResolveItem(Message):
    """A lead's final answer to an escalated (or any open) item."""

    id: ItemId
    label: JsonValue = None
    rating: Rating | None = None
    comment: LongText = ""


class AddComment(Message):
    id: ItemId
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT), text(MAX_TEXT)]


# -- policies ----------------------------------------------------------------------------


class RoutingSpec(Message):
    """Send an endpoint's doubtful predictions to a queue.

    ``criterion``: ``confidence`` routes a row whose top class probability is below
    ``threshold`` (or its predicted class's entry in ``class_thresholds``); ``margin``
    one whose top two probabilities are closer than ``threshold``; ``entropy`` one whose
    normalised entropy (0 certain, 1 uniform) is above it. ``on_route``: what the caller
    gets: ``flag`` (the prediction, marked ``needs_review``), ``fallback`` (``fallback``
    instead of the prediction) or ``pending`` (no prediction; poll the item).
    ``max_share``: routing stops while more than this share of the last 1,000 requests
    (per process) was routed.
    """

    endpoint: AssetName
    queue: AssetName
    criterion: Criterion = "confidence"
    threshold: Probability = 0.7
    class_thresholds: dict[
        Annotated[str, Field(min_length=1, max_length=256), text(256)], Probability
    ] = Field(default_factory=dict, max_length=MAX_CHOICES)
    on_route: OnRoute = "flag"
    fallback: JsonValue = None
    max_share: Annotated[StrictFloat, Field(gt=0.0, le=1.0)] = 0.25
    enabled: StrictBool = True


class RoutingPolicy(RoutingSpec):
    id: int
    created_by: str
    created_at: int
    updated_at: int


class EndpointRef(Message):
    endpoint: AssetName


class SamplingSpec(Message):
    """Put a random sample of an endpoint's predictions or a gateway route's calls in a
    queue, whatever their confidence: ``per_day`` cases a day, or a ``rate``."""

    queue: AssetName
    endpoint: AssetName | None = None
    route: AssetName | None = None
    per_day: Annotated[int, Field(ge=1, le=100_000), _WHOLE] | None = None
    rate: Annotated[StrictFloat, Field(gt=0.0, le=1.0)] | None = None
    enabled: StrictBool = True


class SamplingPolicy(SamplingSpec):
    id: int
    sampled_until: int | None = None
    created_by: str
    created_at: int
    updated_at: int


class PolicyRef(Message):
    id: ItemId


class ListPolicies(Message):
    queue: AssetName | None = None
    endpoint: AssetName | None = None


class PolicyList(Message):
    routing: list[RoutingPolicy]
    sampling: list[SamplingPolicy]


class RunSampling(Message):
    """Sample the whole hours before ``until`` (default now) not sampled yet, for one
    policy or all."""

    id: ItemId | None = None
    until: Millis | None = None


class SampledHours(Message):
    policy: int
    hours: int
    added: int


class SamplingRun(Message):
    policies: list[SampledHours]


# -- stats -------------------------------------------------------------------------------


class GetQueueStats(Message):
    name: AssetName
    days: int = Field(default=14, ge=1, le=366)


class DayCount(Message):
    day: str
    answers: int
    completed: int
    added: int


class ReviewerStats(Message):
    reviewer: str
    answers: int
    median_seconds: float | None = None
    with_consensus: float | None = None
    kappa: float | None = None
    compared_items: int = 0


class QueueStats(Message):
    queue: str
    counts: QueueCounts
    days: list[DayCount]
    median_seconds: float | None = None
    changed_share: float | None = None
    agreement: float | None = None
    low_agreement_items: int = 0
    reviewers: list[ReviewerStats]


class CountLabels(Message):
    """Items completed after ``since`` (ms): the "N new labels" a retraining waits for."""

    queue: AssetName
    since: int = Field(default=0, ge=0, le=MAX_SAFE_INTEGER)


class LabelCount(Message):
    count: int
    last_completed_at: int | None = None


# -- exchange ----------------------------------------------------------------------------


class ListAnswers(Message):
    """The answers of up to 1,000 items of a queue at once (an export reads them page by
    page); ids of items in other queues give no answers."""

    queue: AssetName
    ids: list[ItemId] = Field(max_length=MAX_LIST)


class AnswerList(Message):
    """Answers ordered by item, then as given."""

    answers: list[Answer]
