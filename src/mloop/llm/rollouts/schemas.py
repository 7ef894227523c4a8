"""Messages of route rollouts: a canary of a prompt version or a target model on a route,
with serving's ramp plan and health rules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mloop.core.fields import AssetName, text
from mloop.core.operations import Message
from mloop.serving.schemas import MAX_REASON, MAX_RULES, CheckResult, HealthRule, RampPlan

VariantKind = Literal["prompt", "target"]
# completed: the ramp reached 100 and the candidate serves all of the route's traffic it
# applies to, until a person ends the rollout (after moving the label or editing the route);
# retired: ended by hand or replaced by a newer rollout.
RouteRolloutState = Literal["running", "completed", "rolled_back", "cancelled", "retired"]
RouteEventKind = Literal["start", "advance", "promote", "rollback", "retire"]

Reason = Annotated[str, text(MAX_REASON)]


class StartRouteRollout(Message):
    """Start a canary on a route: either ``prompt`` (``name@label``) with ``prompt_version``,
    or ``target`` (``provider/model``)."""

    route: AssetName
    prompt: Annotated[str, text(300)] | None = Field(
        default=None, description="name@label: the requests naming it are split"
    )
    prompt_version: int | None = Field(default=None, ge=1, description="The candidate version")
    target: Annotated[str, text(400)] | None = Field(
        default=None, description="provider/model: the candidate target"
    )
    ramp: RampPlan | None = None
    rules: list[HealthRule] = Field(default_factory=list, max_length=MAX_RULES)
    reason: Reason = ""


class RouteRollout(Message):
    """A rollout on a route: where its ramp stands and what its rules last saw."""

    id: int
    route: str
    variant_kind: VariantKind
    prompt: str | None = Field(default=None, description="name@label (prompt rollouts)")
    stable: str = Field(description="The label's version at the start; '' for a target")
    candidate: str = Field(description="A prompt version, or provider/model")
    ramp: RampPlan | None = None
    rules: list[HealthRule]
    weight: int = Field(description="The candidate's percent of the route's traffic now")
    step: int
    step_started_at: int
    state: RouteRolloutState
    reason: str = ""
    revision: int
    created_by: str
    started_at: int
    updated_at: int
    last_check: CheckResult | None = None


class RouteName(Message):
    route: AssetName


class ListRouteRollouts(Message):
    route: AssetName
    max_results: int = Field(default=20, ge=1, le=1000)


class RouteRolloutList(Message):
    rollouts: list[RouteRollout]


class EndRouteRollout(Message):
    route: AssetName
    reason: Reason = ""


class RouteRolloutEvent(Message):
    id: int
    route: str
    rollout_id: int
    kind: RouteEventKind
    actor: str
    timestamp: int
    reason: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class RouteRolloutEventList(Message):
    events: list[RouteRolloutEvent]
