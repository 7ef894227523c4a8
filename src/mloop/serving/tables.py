"""Tables owned by the serving domain: endpoints, their deployments, the audit trail and
canary rollouts.

A deployment is immutable: deploying, changing weights and promoting each write a new row
that names the one it replaced (``previous_id``), and the endpoint points at the live one
(``current_deployment``). Rolling back moves that pointer back, so it is one row update and
the previous models are usually still loaded. Events have no foreign key: the trail
outlives a deleted endpoint.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.assets import asset_columns, lower_name_index
from mloop.store.schema import metadata

endpoints = Table(
    "endpoints",
    metadata,
    *asset_columns(),
    Column("created_by", String(256), nullable=False, default=""),
    # The live deployment's id; None until the first deploy.
    Column("current_deployment", Integer, nullable=True),
)
lower_name_index(endpoints)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "endpoint",
        String(256),
        ForeignKey("endpoints.name", ondelete="CASCADE", onupdate="CASCADE"),
        nullable=False,
    ),
    # single | blue_green | canary | shadow
    Column("strategy", String(16), nullable=False),
    # A JSON list of variants: name, model, version, alias, weight, role, trusted.
    Column("variants_json", Text, nullable=False),
    # active | superseded | rolled_back
    Column("state", String(16), nullable=False),
    # The deployment this one replaced: where a rollback goes.
    Column("previous_id", Integer, nullable=True),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_deployments_endpoint", "endpoint", "id"),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(256), nullable=False),
    # deploy | weights | promote | rollback | load_failed | delete | advance
    Column("kind", String(16), nullable=False),
    Column("from_deployment", Integer, nullable=True),
    Column("to_deployment", Integer, nullable=True),
    Column("actor", String(256), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    # What changed, as JSON (weights, the variant promoted, a load error).
    Column("detail_json", Text, nullable=False, default="{}"),
    Index("ix_deployment_events_endpoint", "endpoint", "id"),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "endpoint",
        String(256),
        ForeignKey("endpoints.name", ondelete="CASCADE", onupdate="CASCADE"),
        nullable=False,
    ),
    # The deployment of the current step (an advance writes a new one).
    Column("deployment_id", Integer, nullable=False),
    # The deployment live before the canary: where a breach rolls back to.
    Column("base_deployment", Integer, nullable=True),
    Column("stable", String(256), nullable=False),
    Column("candidate", String(256), nullable=False),
    # RampPlan and [HealthRule] as JSON.
    Column("ramp_json", Text, nullable=True),
    Column("rules_json", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("step_started_at", BigInteger, nullable=False),
    # running | completed | rolled_back | cancelled
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    # Bumped by every action: an evaluator acts only on the revision it read (compare and
    # set), so two replicas never both advance or both roll back.
    Column("revision", Integer, nullable=False, default=0),
    # When an evaluator last claimed the rollout to check it (one claim per interval).
    Column("checked_at", BigInteger, nullable=True),
    Column("last_check_json", Text, nullable=True),
    Column("created_by", String(256), nullable=False, default=""),
    Column("started_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_rollouts_endpoint", "endpoint", "id"),
    Index("ix_rollouts_state", "state"),
)
"""Canary rollouts: a ramp plan and health rules on an endpoint's deployments, with where
the ramp stands. One runs per endpoint at a time; ended ones are kept as history."""
