"""Request and response messages of the automation API: jobs, triggers, trigger events."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StrictBool

from mloop.alerts.fields import Whole
from mloop.core.fields import MAX_SAFE_INTEGER, AssetName, PageToken, text
from mloop.core.operations import Message

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
AttemptOutcome = Literal[
    "running", "succeeded", "failed", "again", "lease_expired", "lease_lost", "cancelled"
]
TriggerKind = Literal["cron", "alert", "labels", "dataset", "manual", "api", "webhook"]
TRIGGER_KINDS: tuple[str, ...] = get_args(TriggerKind)
Concurrency = Literal["skip", "queue_one", "parallel"]
EventOutcome = Literal["fired", "deduplicated", "skipped"]
EventSource = Literal["cron", "alert", "labels", "dataset", "manual", "api", "webhook"]

MAX_ID = 2**31 - 1
MAX_LIST = 1000
MAX_ATTEMPTS = 100
MAX_PAYLOAD_BYTES = 64 * 1024  # a job's or firing's payload, as JSON

_WHOLE = get_args(Whole)[1]
Millis = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), _WHOLE]
Key = Annotated[str, Field(min_length=1, max_length=256), text(256)]
JobKind = Annotated[str, Field(min_length=1, max_length=64), text(64)]


# -- jobs --------------------------------------------------------------------------------


class EnqueueJob(Message):
    """Put a job on the queue.

    - ``dedup_key``: while a job with this key is queued or running, another is not added
      (the answer's ``job`` is then null);
    - ``concurrency_key``: jobs with the same key never run at the same time;
    - ``run_after``: not started before this time (ms since the epoch);
    - ``max_attempts``: runs of the job before it is failed (a failure or a lease that ran
      out counts as one).
    """

    kind: JobKind
    payload: dict[str, Any] = Field(default_factory=dict)
    dedup_key: Key | None = None
    concurrency_key: Key | None = None
    run_after: Millis | None = None
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS), _WHOLE] = 3


class Job(Message):
    """A job and where it stands."""

    id: int
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    dedup_key: str | None = None
    concurrency_key: str | None = None
    attempts: int
    claims: int = Field(description="Times a worker took the job (attempt rows are numbered by it)")
    max_attempts: int
    run_after: int
    lease_owner: str | None = None
    lease_expires_at: int | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    trigger: str | None = None
    created_by: str
    created_at: int
    updated_at: int
    started_at: int | None = None
    finished_at: int | None = None


class Enqueued(Message):
    """The job added, or null when a queued or running job has the same dedup_key."""

    job: Job | None = None
    duplicate_of: int | None = None


class JobAttempt(Message):
    attempt: int
    worker: str
    started_at: int
    ended_at: int | None = None
    outcome: AttemptOutcome
    error: str | None = None


class JobId(Message):
    # Plain bounds: a GET's id arrives as query text.
    id: int = Field(ge=1, le=MAX_ID)


class JobDetail(Message):
    job: Job
    attempts: list[JobAttempt]
    events: list[TriggerEvent] = Field(description="The trigger firings that started the job")


class ListJobs(Message):
    status: JobStatus | None = None
    kind: JobKind | None = None
    trigger: AssetName | None = None
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)
    page_token: PageToken | None = Field(default=None, max_length=200)


class JobList(Message):
    jobs: list[Job]
    next_page_token: str | None = None


class JobCounts(Message):
    """Jobs by status, now."""

    counts: dict[str, int]


# -- triggers ----------------------------------------------------------------------------


class Target(Message):
    """What a firing starts: a pipeline (``"package.module:function"`` with ``params`` and
    an ``executor``) or a deployment policy by name. Exactly one of the two."""

    pipeline: Annotated[str, Field(min_length=1, max_length=512), text(512)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    executor: Literal["local", "ray"] | None = None
    policy: AssetName | None = None


class TriggerSpec(Message):
    """A trigger: when to start its target, and how firings are held back.

    ``config`` by kind: ``cron`` {"schedule": "0 3 * * *"} (UTC); ``alert`` {"monitor":
    name or null for any, "kinds": ["drift", "performance", "bias", "quality"],
    "min_severity": "info" | "warning" | "critical"}; ``labels`` {"queue": name,
    "min_labels": N}; ``dataset`` {"dataset": name}; ``manual``, ``api``, ``webhook`` {}.
    Polled kinds take ``check_s`` (how often they are checked, default 30).
    ``dedup_window_s``: fired at most once per window; ``concurrency``: ``skip`` a firing
    while a job of the trigger is queued or running, ``queue_one`` more behind a running one,
    or run ``parallel``.
    """

    name: AssetName
    kind: TriggerKind
    config: dict[str, Any] = Field(default_factory=dict)
    target: Target
    dedup_window_s: Annotated[int, Field(ge=0, le=30 * 86400), _WHOLE] = 0
    concurrency: Concurrency = "skip"
    enabled: StrictBool = True


class UpdateTrigger(Message):
    """Change a trigger; fields left out stay as they are."""

    name: AssetName
    config: dict[str, Any] | None = None
    target: Target | None = None
    dedup_window_s: Annotated[int, Field(ge=0, le=30 * 86400), _WHOLE] | None = None
    concurrency: Concurrency | None = None
    enabled: StrictBool | None = None


class Trigger(Message):
    name: str
    kind: TriggerKind
    config: dict[str, Any]
    target: Target
    enabled: bool
    dedup_window_s: int
    concurrency: Concurrency
    cursor: dict[str, Any]
    next_check_at: int | None = None
    last_fired_at: int | None = None
    has_secret: bool = False
    created_by: str
    created_at: int
    updated_at: int


class CreatedTrigger(Message):
    """A new trigger; ``secret`` (webhooks) is shown only here and when rotated."""

    trigger: Trigger
    secret: str | None = None


class TriggerName(Message):
    name: AssetName


class TriggerList(Message):
    triggers: list[Trigger]


class NewSecret(Message):
    secret: str


class FireTrigger(Message):
    """Fire a trigger now; ``payload`` travels with the job (``{"params": {...}}`` overrides
    the target's parameters)."""

    name: AssetName
    payload: dict[str, Any] = Field(default_factory=dict)


class TriggerEvent(Message):
    """One firing of a trigger and what became of it."""

    id: int
    trigger: str
    trigger_kind: str
    policy: str | None = None
    source: EventSource
    outcome: EventOutcome
    reason: str
    job_id: int | None = None
    payload: dict[str, Any]
    actor: str
    created_at: int


class Fired(Message):
    event: TriggerEvent
    job: Job | None = None


class ListTriggerEvents(Message):
    trigger: AssetName | None = None
    policy: AssetName | None = None
    job_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    outcome: EventOutcome | None = None
    after_id: int = Field(default=0, ge=0, le=MAX_ID)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST)


class TriggerEventList(Message):
    events: list[TriggerEvent]
    last_id: int


class CheckTriggers(Message):
    """Evaluate the due triggers now (what a worker does each round)."""


class Checked(Message):
    events: list[TriggerEvent]


JobDetail.model_rebuild()
