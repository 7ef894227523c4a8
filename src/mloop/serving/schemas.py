"""Request and response messages of the serving API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue

from mloop.core.fields import (
    MAX_SAFE_INTEGER,
    NO_NUL_PATTERN,
    AliasName,
    AssetName,
    PageToken,
    Rule,
    Time,
    text,
)
from mloop.core.operations import Message

Strategy = Literal["single", "blue_green", "canary", "shadow"]
VariantRole = Literal["stable", "candidate", "shadow"]
EventKind = Literal["deploy", "weights", "promote", "rollback", "load_failed", "delete", "advance"]
DeploymentState = Literal["active", "superseded", "rolled_back"]

MAX_VARIANTS = 8
MAX_LIST_RESULTS = 1000
MAX_REASON = 2000
MAX_DESCRIPTION = 5000

Reason = Annotated[str, text(MAX_REASON)]


# -- endpoints ------------------------------------------------------------------------------


class Endpoint(Message):
    name: str
    description: str = ""
    created_by: str = ""
    creation_time: int
    last_update_time: int
    current_deployment: int | None = None


class CreateEndpoint(Message):
    name: AssetName
    description: Annotated[str, text(MAX_DESCRIPTION)] | None = None


class EndpointName(Message):
    name: AssetName


class ListEndpoints(Message):
    name_contains: Annotated[str, text(256)] | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: PageToken | None = Field(default=None, max_length=200)


class EndpointList(Message):
    endpoints: list[Endpoint]
    next_page_token: str | None = None


# -- rollouts: ramp plans and health rules --------------------------------------------------

RuleKind = Literal["error_rate", "latency", "prediction_shift", "accuracy", "mae", "rmse"]
ShiftTest = Literal["auto", "ks", "chi2", "psi"]
RolloutState = Literal["running", "completed", "rolled_back", "cancelled"]
RuleStatus = Literal["ok", "breached", "waiting"]
CheckAction = Literal["none", "wait", "advance", "promote", "rollback"]

MAX_STEPS = 20
MAX_RULES = 20
MAX_WINDOW_SECONDS = 7 * 86400


class RampPlan(Message):
    """A canary's traffic steps in percent, e.g. ``[5, 25, 50, 100]``; a step advances when
    it has lasted ``min_seconds`` AND the candidate served ``min_requests`` in it, with
    every health rule healthy. Reaching 100 promotes the candidate."""

    steps: list[Annotated[int, Rule(minimum=1, maximum=100)]] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description="Percents from 1 to 100, increasing, the last 100",
    )
    min_seconds: int = Field(default=300, ge=0, le=MAX_WINDOW_SECONDS)
    min_requests: int = Field(default=100, ge=0, le=1_000_000_000)


class HealthRule(Message):
    """One health rule over a sliding window of the candidate's requests.

    ``threshold`` is breached when: ``error_rate`` (share of requests that failed) is above
    it; ``latency`` (the ``quantile`` of latency in ms, default 0.99) is above it;
    ``prediction_shift`` against the stable variant: the test's p-value is below it
    (``ks`` for numbers, ``chi2`` for classes; ``auto`` picks) or, for ``psi``, the
    population stability index is above it; ``accuracy`` on labelled requests is below it;
    ``mae`` or ``rmse`` on labelled requests is above it.
    """

    kind: RuleKind
    threshold: float
    window_seconds: int = Field(default=300, ge=1, le=MAX_WINDOW_SECONDS)
    min_samples: int = Field(
        default=30, ge=1, le=1_000_000_000, description="Fewer in the window: wait, hold the ramp"
    )
    quantile: Annotated[float, Rule(exclusiveMinimum=0, exclusiveMaximum=1)] | None = Field(
        default=None, description="latency only (default 0.99)"
    )
    test: ShiftTest | None = Field(default=None, description="prediction_shift only")
    on: Literal["prediction", "confidence"] | None = Field(
        default=None, description="prediction_shift only: compare predictions or confidence"
    )


class RolloutSpec(Message):
    ramp: RampPlan | None = None
    rules: list[HealthRule] = Field(default_factory=list, max_length=MAX_RULES)


class RuleCheck(Message):
    """One rule as evaluated: what was observed over its window, against its threshold."""

    index: int
    kind: RuleKind
    status: RuleStatus
    observed: float | None = None
    threshold: float
    window_seconds: int
    samples: int
    detail: str = ""


class CheckResult(Message):
    """One evaluation of an endpoint's running rollout, and what it did."""

    endpoint: str
    rollout_id: int | None = None
    at: int
    action: CheckAction
    reason: str = ""
    step: int | None = None
    weight: int | None = None
    step_seconds: float | None = None
    step_requests: int | None = None
    rules: list[RuleCheck] = Field(default_factory=list)
    deployment: int | None = Field(default=None, description="The live deployment after it")


class Rollout(Message):
    """A canary rollout: where its ramp stands and what its rules last saw."""

    id: int
    endpoint: str
    deployment_id: int = Field(description="The deployment of the current step")
    base_deployment: int | None = Field(description="Where a breach rolls back to")
    stable: str
    candidate: str
    ramp: RampPlan | None = None
    rules: list[HealthRule]
    step: int = Field(description="Index into ramp.steps (0 without a ramp)")
    weight: int = Field(description="The candidate's percent of traffic now")
    step_started_at: int
    state: RolloutState
    reason: str = ""
    revision: int = Field(description="Bumped by every action on the rollout")
    created_by: str
    started_at: int
    updated_at: int
    last_check: CheckResult | None = None


class RolloutList(Message):
    rollouts: list[Rollout]


class CheckEndpoint(Message):
    endpoint: AssetName


class ListRollouts(Message):
    endpoint: AssetName
    max_results: int = Field(default=20, ge=1, le=MAX_LIST_RESULTS)


# -- ground truth and A/B analysis ----------------------------------------------------------

MAX_LABELS = 100_000


class LabelItem(Message):
    request_id: Annotated[str, Rule(minLength=1, maxLength=256, pattern=NO_NUL_PATTERN)]
    label: Annotated[JsonValue, Rule(**{"not": {"type": "null"}})] = Field(
        description="The true outcome (any JSON value, not null)"
    )
    time: Time | None = Field(default=None, description="ms since the epoch (default now)")


class AttachLabels(Message):
    endpoint: AssetName
    labels: list[LabelItem] = Field(min_length=1, max_length=MAX_LABELS)
    origin: Annotated[str, text(256)] | None = None


class LabelsAttached(Message):
    stored: int
    unmatched: int = Field(description="Labels whose request id is not in the endpoint's log")
    unmatched_examples: list[str] = Field(default_factory=list)


class CompareVariants(Message):
    endpoint: AssetName
    since: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SAFE_INTEGER,
        description="ms since the epoch, before until (default: 24 h before until)",
    )
    until: int | None = Field(
        default=None, ge=0, le=MAX_SAFE_INTEGER, description="ms since the epoch (default: now)"
    )
    metric: Literal["auto", "accuracy", "mae"] = "auto"
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1.0)


class Interval(Message):
    low: float
    high: float


class VariantStats(Message):
    """One model version's requests over the period, with intervals."""

    model: str
    version: int
    variants: list[str]
    requests: int
    errors: int
    error_rate: float | None = None
    error_rate_ci: Interval | None = None
    latency_mean_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    labelled: int = 0
    metric: str | None = None
    metric_value: float | None = None
    metric_ci: Interval | None = None


class Difference(Message):
    """A version against the baseline: the difference (version minus baseline), its
    interval and the test's p-value."""

    measure: str
    test: str
    difference: float | None = None
    ci: Interval | None = None
    p_value: float | None = None
    significant: bool = False


class VariantComparison(Message):
    version: VariantStats
    differences: list[Difference]


class Comparison(Message):
    endpoint: str
    since: int
    until: int
    confidence_level: float
    metric: str | None = None
    baseline: VariantStats | None = None
    others: list[VariantComparison] = Field(default_factory=list)


# -- deployments ----------------------------------------------------------------------------


class VariantSpec(Message):
    """One variant of a deployment as asked for: a model version, or an alias resolved to
    its version when the deployment is made."""

    model: AssetName = Field(description="The registered model's name")
    version: int | None = Field(default=None, ge=1)
    alias: AliasName | None = Field(default=None, max_length=256)
    name: AssetName | None = Field(
        default=None, description="The variant's name (default: from its role and position)"
    )
    weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of traffic (canary), or of traffic mirrored (shadow)",
    )
    role: VariantRole | None = None
    trusted: bool | list[str] = Field(
        default=False,
        description="What the model may run when loaded: True, or the skops type names to "
        "accept (the registry's trust rules; pickle and Python models need True)",
    )


class Variant(Message):
    """One variant of a stored deployment: always a concrete version."""

    name: str
    model: str
    version: int
    alias: str | None = None
    weight: int
    role: VariantRole
    trusted: bool | list[str] = False


class Deploy(Message):
    endpoint: AssetName
    strategy: Strategy = "single"
    variants: list[VariantSpec] = Field(min_length=1, max_length=MAX_VARIANTS)
    reason: Reason = Field(default="", max_length=MAX_REASON)
    rollout: RolloutSpec | None = Field(
        default=None,
        description="A canary's ramp plan and health rules: it advances by itself while "
        "healthy and rolls back on a breach",
    )


class Deployment(Message):
    id: int
    endpoint: str
    strategy: Strategy
    variants: list[Variant]
    state: DeploymentState
    previous_id: int | None = None
    created_by: str
    created_at: int


class SetWeights(Message):
    endpoint: AssetName
    weights: dict[str, int] = Field(description="Percent of traffic per variant name")
    reason: Reason = Field(default="", max_length=MAX_REASON)


class Promote(Message):
    endpoint: AssetName
    variant: AssetName | None = Field(
        default=None, description="The variant to promote (default: the only candidate)"
    )
    reason: Reason = Field(default="", max_length=MAX_REASON)


class Rollback(Message):
    endpoint: AssetName
    reason: Reason = Field(default="", max_length=MAX_REASON)


class EndpointStatus(Message):
    endpoint: Endpoint
    deployment: Deployment | None = None
    previous: Deployment | None = None


class ListEvents(Message):
    endpoint: AssetName
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)


class DeploymentEvent(Message):
    id: int
    endpoint: str
    kind: EventKind
    from_deployment: int | None = None
    to_deployment: int | None = None
    actor: str
    timestamp: int
    reason: str = ""
    detail: dict[str, object] = Field(default_factory=dict)


class EventList(Message):
    events: list[DeploymentEvent]
