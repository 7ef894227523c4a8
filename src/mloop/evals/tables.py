"""Tables owned by the evals domain: suites, their immutable versions, and gate decisions.

A suite is a named asset (``store.assets``); each version pins a spec (JSON, identified by
the sha256 of its canonical form) and the dataset version it was registered against, so the
same spec registered twice is the same version. A gate decision keeps its searchable facts
in columns (which models, which suite, the outcome) and every number and reason in
``detail_json``. Every time is integer milliseconds (UTC).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mloop.store.assets import asset_columns, lower_name_index
from mloop.store.schema import metadata

eval_suites = Table(
    "eval_suites",
    metadata,
    *asset_columns(),
    Column("created_by", String(256), nullable=False),
)
lower_name_index(eval_suites)

eval_suite_versions = Table(
    "eval_suite_versions",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    # sha256 of the canonical JSON of the spec (dataset pinned to name/version).
    Column("digest", String(64), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("dataset_name", String(256), nullable=False),
    Column("dataset_version", Integer, nullable=False),
    Column("dataset_digest", String(64), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Index("ux_eval_suite_versions_digest", "name", "digest", unique=True),
)

gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("suite", String(256), nullable=False),
    Column("suite_version", Integer, nullable=False),
    Column("candidate_name", String(256), nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("champion_name", String(256), nullable=True),
    Column("champion_version", Integer, nullable=True),
    # passed | failed | no_champion | same_version
    Column("outcome", String(32), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("candidate_run_id", String(32), nullable=True),
    Column("champion_run_id", String(32), nullable=True),
    Column("detail_json", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_gate_decisions_candidate", "candidate_name", "id"),
    Index("ix_gate_decisions_champion", "champion_name", "id"),
    Index("ix_gate_decisions_suite", "suite", "id"),
)
