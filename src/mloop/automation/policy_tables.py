"""Tables of zero-touch deployment policies: the policies, their runs and every transition
of a run (its audit trail, which the model's timeline reads).

A run copies its policy's spec when it is created (``spec_json``), so editing or deleting a
policy never changes what a run in flight does, and the trail says what it did. Runs and
their events have no foreign key to the policy: they outlive a deleted policy.

One run per policy is in flight at a time: a run starts only by setting the policy's
``active_run`` from NULL to its id with one conditional UPDATE, which two workers cannot
both win, on SQLite and PostgreSQL alike. Every time is integer milliseconds (UTC).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.schema import metadata

deployment_policies = Table(
    "deployment_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("endpoint", String(256), nullable=False),
    # The policy's spec as JSON: pipeline ref and params, suite, champion alias, rollout
    # (ramp plan and health rules), trusted types, approval, concurrency, poll interval.
    Column("spec_json", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # The run in flight (NULL: none); taken and released by compare-and-set.
    Column("active_run", Integer, nullable=True),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ux_deployment_policies_name", "name", unique=True),
    Index("ix_deployment_policies_model", "model"),
)

policy_runs = Table(
    "policy_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("policy", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("endpoint", String(256), nullable=False),
    # The policy's spec when the run was created (JSON).
    Column("spec_json", Text, nullable=False),
    # queued | training | gating | awaiting_approval | rolling_out  (in flight)
    # promoted | stopped_at_gate | rejected | rolled_back | failed | skipped | cancelled
    Column("state", String(24), nullable=False),
    # What started it: "manual", "api" or a trigger's name, with the trigger event's id.
    Column("trigger", String(256), nullable=False),
    Column("trigger_event_id", Integer, nullable=True),
    Column("trigger_payload_json", Text, nullable=False),
    Column("pipeline_run_id", Integer, nullable=True),
    # The tracking run of the pipeline run.
    Column("tracking_run_id", String(64), nullable=True),
    Column("candidate_version", Integer, nullable=True),
    # The champion's version when the gate compared them (NULL: no champion).
    Column("champion_version", Integer, nullable=True),
    Column("gate_id", Integer, nullable=True),
    Column("gate_outcome", String(32), nullable=True),
    Column("rollout_id", Integer, nullable=True),
    # NULL (not asked) | pending | approved | rejected
    Column("approval", String(16), nullable=True),
    Column("decided_by", String(256), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("decision_comment", Text, nullable=True),
    # Why it is in its state (the last transition's reason).
    Column("reason", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Index("ix_policy_runs_policy", "policy", "id"),
    Index("ix_policy_runs_model", "model", "candidate_version"),
    Index("ix_policy_runs_state", "state"),
)

policy_run_events = Table(
    "policy_run_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("policy_runs.id"), nullable=False),
    Column("policy", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    # The state the run entered (or "approval_requested", "checked": a rollout check).
    Column("kind", String(24), nullable=False),
    Column("from_state", String(24), nullable=True),
    Column("reason", Text, nullable=False),
    # What the step saw or did, as JSON (versions, gate numbers, a rollout's check).
    Column("detail_json", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_policy_run_events_run", "run_id", "id"),
    Index("ix_policy_run_events_model", "model", "id"),
)
