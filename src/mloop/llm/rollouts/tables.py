"""Tables of canary rollouts on gateway routes and their audit trail.

A route's configuration is static YAML; a rollout is runtime state, so it lives here: while
one runs, the gateway sends the candidate (a prompt version, or a target model) the ramp's
percent of the route's traffic, sticky per caller. The ramp plan, health rules, revision
(compare and set) and check columns mean what they mean in serving's ``rollouts`` table.
Events have no foreign key: the trail outlives the rollout.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from mloop.store.schema import metadata

route_rollouts = Table(
    "route_rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(256), nullable=False),
    # prompt: the candidate is a version of ``prompt``; target: a "provider/model".
    Column("variant_kind", String(16), nullable=False),
    Column("prompt", String(256), nullable=True),
    # The stable side: the prompt version the label named at the start ("" for a target
    # rollout: the route's configured targets), and the candidate.
    Column("stable", String(256), nullable=False),
    Column("candidate", String(256), nullable=False),
    Column("ramp_json", Text, nullable=True),
    Column("rules_json", Text, nullable=False),
    Column("weight", Integer, nullable=False),  # the candidate's percent now
    Column("step", Integer, nullable=False),
    Column("step_started_at", BigInteger, nullable=False),
    # running | completed | rolled_back | cancelled
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("revision", Integer, nullable=False, default=0),
    Column("checked_at", BigInteger, nullable=True),
    Column("last_check_json", Text, nullable=True),
    Column("created_by", String(256), nullable=False, default=""),
    Column("started_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_route_rollouts_route", "route", "id"),
    Index("ix_route_rollouts_state", "state"),
)

route_rollout_events = Table(
    "route_rollout_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(256), nullable=False),
    Column("rollout_id", Integer, nullable=False),
    # start | advance | promote | rollback | cancel
    Column("kind", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("detail_json", Text, nullable=False, default="{}"),
    Index("ix_route_rollout_events_route", "route", "id"),
)
