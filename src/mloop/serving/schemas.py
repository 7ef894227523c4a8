"""Request and response messages of the serving API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mloop.core.operations import Message

Strategy = Literal["single", "blue_green", "canary", "shadow"]
VariantRole = Literal["stable", "candidate", "shadow"]
EventKind = Literal["deploy", "weights", "promote", "rollback", "load_failed", "delete"]
DeploymentState = Literal["active", "superseded", "rolled_back"]

MAX_VARIANTS = 8
MAX_LIST_RESULTS = 1000
MAX_REASON = 2000


# -- endpoints ------------------------------------------------------------------------------


class Endpoint(Message):
    name: str
    description: str = ""
    created_by: str = ""
    creation_time: int
    last_update_time: int
    current_deployment: int | None = None


class CreateEndpoint(Message):
    name: str
    description: str | None = None


class EndpointName(Message):
    name: str


class ListEndpoints(Message):
    name_contains: str | None = Field(default=None, max_length=256)
    max_results: int = Field(default=100, ge=1, le=MAX_LIST_RESULTS)
    page_token: str | None = Field(default=None, max_length=200)


class EndpointList(Message):
    endpoints: list[Endpoint]
    next_page_token: str | None = None


# -- deployments ----------------------------------------------------------------------------


class VariantSpec(Message):
    """One variant of a deployment as asked for: a model version, or an alias resolved to
    its version when the deployment is made."""

    model: str = Field(description="The registered model's name")
    version: int | None = Field(default=None, ge=1)
    alias: str | None = Field(default=None, max_length=256)
    name: str | None = Field(
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
    endpoint: str
    strategy: Strategy = "single"
    variants: list[VariantSpec] = Field(min_length=1, max_length=MAX_VARIANTS)
    reason: str = Field(default="", max_length=MAX_REASON)


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
    endpoint: str
    weights: dict[str, int] = Field(description="Percent of traffic per variant name")
    reason: str = Field(default="", max_length=MAX_REASON)


class Promote(Message):
    endpoint: str
    variant: str | None = Field(
        default=None, description="The variant to promote (default: the only candidate)"
    )
    reason: str = Field(default="", max_length=MAX_REASON)


class Rollback(Message):
    endpoint: str
    reason: str = Field(default="", max_length=MAX_REASON)


class EndpointStatus(Message):
    endpoint: Endpoint
    deployment: Deployment | None = None
    previous: Deployment | None = None


class ListEvents(Message):
    endpoint: str
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
