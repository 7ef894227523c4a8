"""Request and response messages of deployment policies, their runs, approvals and the
per-model automation timeline."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, JsonValue, StrictBool

from mloop.alerts.fields import Whole
from mloop.core.fields import MAX_SAFE_INTEGER, AliasName, AssetName, Rule, text
from mloop.core.operations import Message
from mloop.serving.schemas import HealthRule, RampPlan, RolloutSpec

RunState = Literal[
    "queued",
    "training",
    "gating",
    "awaiting_approval",
    "rolling_out",
    "promoted",
    "stopped_at_gate",
    "rejected",
    "rolled_back",
    "failed",
    "skipped",
    "cancelled",
]
ACTIVE_STATES: tuple[str, ...] = (
    "queued",
    "training",
    "gating",
    "awaiting_approval",
    "rolling_out",
)
"""A run in one of these is in flight; every other state is final."""

Concurrency = Literal["queue", "skip"]
Approval = Literal["pending", "approved", "rejected"]

MAX_ID = 2**31 - 1
MAX_LIST = 500
MAX_PARAMS_BYTES = 64_000
_WHOLE = get_args(Whole)[1]  # after the bounds, so the document shows minimum/maximum
Id = Annotated[int, Field(ge=1, le=MAX_ID), _WHOLE]  # in JSON bodies
QueryId = Annotated[int, Field(ge=1, le=MAX_ID)]  # in query strings (GET)

PIPELINE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
SUITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[1-9][0-9]{0,9})?$"

PipelineRef = Annotated[
    str,
    Rule(
        pattern=PIPELINE_PATTERN,
        maxLength=512,
        description='The training pipeline, "package.module:function"; it returns the '
        'candidate it registered as "models:/<name>/<version>"',
    ),
]
SuiteRef = Annotated[
    str,
    Rule(
        pattern=SUITE_PATTERN,
        maxLength=300,
        description='The eval suite of the gate: "name" (its latest version) or "name/3"',
    ),
]
Reason = Annotated[str, Field(max_length=2000), text(2000)]


def default_rollout() -> RolloutSpec:
    """A canary at 10, 50 then 100 percent, each step 5 minutes and 100 requests, rolled
    back when more than 5 % of the candidate's requests fail."""
    return RolloutSpec(
        ramp=RampPlan(steps=[10, 50, 100]),
        rules=[HealthRule(kind="error_rate", threshold=0.05)],
    )


class PolicySpec(Message):
    """A model's zero-touch deployment policy.

    When triggered it runs ``pipeline`` with ``params``; the pipeline returns the candidate
    it registered (``"models:/<model>/<version>"``). The candidate is gated against
    ``models:/<model>@<champion_alias>`` on ``suite``; if it passes (and, with
    ``require_approval``, once a deployer approves) it rolls out by canary on ``endpoint``
    with ``rollout`` (serving's ramp plan and health rules). A completed rollout moves the
    champion alias to the candidate; a breached rule rolls the endpoint back.

    ``concurrency``: while a run is in flight, a new one waits its turn (``queue``) or is
    recorded as skipped (``skip``). ``poll_seconds``: how often a waiting run looks again
    (rollout checks, approvals). ``trusted``: types the candidate's skops file may load.
    """

    name: AssetName
    model: AssetName
    pipeline: PipelineRef
    params: dict[str, JsonValue] = Field(default_factory=dict)
    suite: SuiteRef
    endpoint: AssetName
    champion_alias: AliasName = "champion"
    rollout: RolloutSpec = Field(default_factory=default_rollout)
    trusted: StrictBool | list[Annotated[str, text(256)]] = False
    require_approval: StrictBool = False
    enabled: StrictBool = True
    concurrency: Concurrency = "queue"
    poll_seconds: Whole = Field(default=30, ge=1, le=3600)


class Policy(PolicySpec):
    id: int
    active_run: int | None = Field(default=None, description="The run in flight, if any")
    created_by: str
    created_at: int
    updated_at: int


class PolicyName(Message):
    name: AssetName


class ListPolicies(Message):
    model: AssetName | None = None


class PolicyList(Message):
    policies: list[Policy]


class RunPolicy(Message):
    """Start a run of a policy now (by hand or from a script: trigger ``manual``/``api``)."""

    name: AssetName
    trigger: Literal["manual", "api"] = "manual"
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    reason: Reason = ""


class PolicyRun(Message):
    id: int
    policy: str
    model: str
    endpoint: str
    state: RunState
    active: bool = Field(description="Whether the run is still in flight")
    trigger: str
    trigger_event_id: int | None = None
    pipeline_run_id: int | None = None
    tracking_run_id: str | None = None
    candidate_version: int | None = None
    champion_version: int | None = None
    gate_id: int | None = None
    gate_outcome: str | None = None
    rollout_id: int | None = None
    approval: Approval | None = None
    decided_by: str | None = None
    decided_at: int | None = None
    decision_comment: str | None = None
    reason: str = ""
    created_by: str
    created_at: int
    updated_at: int
    finished_at: int | None = None


class PolicyRunEvent(Message):
    """One transition of a run, with its reason and what the step saw."""

    id: int
    run_id: int
    policy: str
    model: str
    kind: str
    from_state: str | None = None
    reason: str
    detail: dict[str, JsonValue] = Field(default_factory=dict)
    actor: str
    at: int


class PolicyRunDetail(Message):
    run: PolicyRun
    spec: PolicySpec
    events: list[PolicyRunEvent]


class RunRef(Message):
    id: QueryId


class ListPolicyRuns(Message):
    policy: AssetName | None = None
    model: AssetName | None = None
    state: RunState | None = None
    max_results: int = Field(default=50, ge=1, le=MAX_LIST)


class PolicyRunList(Message):
    runs: list[PolicyRun]


class Decide(Message):
    """Approve or reject a run waiting for approval; the decision and who made it are
    audited."""

    id: Id
    comment: Reason = ""


class CancelRun(Message):
    id: Id
    reason: Reason = ""


# -- the timeline ---------------------------------------------------------------------------

EntryKind = Literal[
    "trigger", "policy", "pipeline", "gate", "approval", "alias", "deployment", "rollout", "alert"
]


class GetTimeline(Message):
    model: AssetName
    version: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None, description="Explain this version: the chain that put it where it is"
    )
    max_results: Annotated[int, Field(ge=1, le=MAX_LIST)] = 200


class TimelineEntry(Message):
    """One thing that happened to a model, linking to its object (``link`` names a UI link
    kind and ``ids`` its arguments)."""

    at: int = Field(ge=0, le=MAX_SAFE_INTEGER)
    kind: EntryKind
    title: str
    detail: str = ""
    actor: str = ""
    version: int | None = None
    link: str | None = None
    ids: dict[str, str | int] = Field(default_factory=dict)


class Timeline(Message):
    model: str
    version: int | None = None
    entries: list[TimelineEntry] = Field(description="Newest first")
    chain: list[TimelineEntry] = Field(
        default_factory=list,
        description="With version: trigger -> pipeline run -> gate -> approval -> rollout -> "
        "alias move, oldest first",
    )
    explanation: str = ""
