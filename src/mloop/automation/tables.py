"""Tables owned by the automation domain: the job queue, its attempts, triggers and the
trigger event log.

A job is claimed with one conditional UPDATE that takes its lease (``lease_owner``,
``lease_expires_at``); PostgreSQL reads the candidates ``FOR UPDATE SKIP LOCKED``. Two partial
unique indexes let the database settle the races a process cannot see: at most one queued or
running job per ``dedup_key``, and at most one running job per ``concurrency_key``.
Every time is integer milliseconds (UTC).
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
    text,
)

from mloop.store.schema import metadata

_ACTIVE = text("status IN ('queued', 'running')")
_RUNNING = text("status = 'running'")

automation_jobs = Table(
    "automation_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("payload_json", Text, nullable=False),
    # queued | running | succeeded | failed | cancelled
    Column("status", String(16), nullable=False),
    Column("dedup_key", String(256), nullable=True),
    Column("concurrency_key", String(256), nullable=True),
    # Attempts counted against max_attempts (a run that asked to be called again is not one).
    Column("attempts", Integer, nullable=False),
    # Times claimed: numbers the attempt rows, and a finishing worker must name the claim
    # it holds, so a worker whose lease ran out cannot finish a job another worker took.
    Column("claims", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    # Not claimed before this time (a retry's backoff, a handler's "call me again later").
    Column("run_after", BigInteger, nullable=False),
    Column("lease_owner", String(256), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    # What a handler keeps between the calls of a job that asked to be called again.
    Column("state_json", Text, nullable=False),
    Column("result_json", Text, nullable=True),
    Column("error", Text, nullable=True),
    # The trigger that started the job (its name: the trigger may be deleted later).
    Column("trigger_name", String(256), nullable=True),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Index("ix_automation_jobs_due", "status", "run_after", "id"),
    Index("ix_automation_jobs_lease", "status", "lease_expires_at"),
    Index("ix_automation_jobs_trigger", "trigger_name", "status"),
    Index("ix_automation_jobs_created", "created_at"),
    Index(
        "ux_automation_jobs_dedup",
        "dedup_key",
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    ),
    Index(
        "ux_automation_jobs_concurrency",
        "concurrency_key",
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    ),
)

automation_job_attempts = Table(
    "automation_job_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("automation_jobs.id"), nullable=False),
    # The claim number (automation_jobs.claims when it was taken).
    Column("attempt", Integer, nullable=False),
    Column("worker", String(256), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    # running | succeeded | failed | again | lease_expired | lease_lost | cancelled
    Column("outcome", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Index("ux_automation_job_attempts", "job_id", "attempt", unique=True),
)

automation_triggers = Table(
    "automation_triggers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    # cron | alert | labels | dataset | manual | api | webhook
    Column("kind", String(16), nullable=False),
    Column("config_json", Text, nullable=False),
    # {"pipeline": ref, "params": {...}, "executor": ...} or {"policy": name}
    Column("target_json", Text, nullable=False),
    # The policy the trigger starts (indexed copy of the target, for the policy's timeline).
    Column("policy", String(256), nullable=True),
    Column("enabled", Boolean, nullable=False),
    # Fired at most once per window (0: no window); later firings are recorded deduplicated.
    Column("dedup_window_s", Integer, nullable=False),
    # skip | queue_one | parallel
    Column("concurrency", String(16), nullable=False),
    # Webhooks: sha256 of the secret callers send (the secret itself is shown once).
    Column("secret_sha256", String(64), nullable=True),
    # What the trigger has seen (cron: last due time; alert: last event id; labels: last
    # completion time; dataset: last version), moved with a conditional update on version.
    Column("cursor_json", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_check_at", BigInteger, nullable=True),
    Column("last_fired_at", BigInteger, nullable=True),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ux_automation_triggers_name", "name", unique=True),
    Index("ix_automation_triggers_due", "enabled", "next_check_at"),
    Index("ix_automation_triggers_policy", "policy"),
)

# Append-only, no foreign key: a trigger's history outlives the trigger.
automation_trigger_events = Table(
    "automation_trigger_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger_name", String(256), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("policy", String(256), nullable=True),
    # cron | alert | labels | dataset | manual | api | webhook
    Column("source", String(16), nullable=False),
    # fired | deduplicated | skipped
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("job_id", Integer, nullable=True),
    Column("payload_json", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_automation_trigger_events_trigger", "trigger_name", "id"),
    Index("ix_automation_trigger_events_policy", "policy", "id"),
    Index("ix_automation_trigger_events_job", "job_id"),
)
