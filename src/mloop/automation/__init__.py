"""Automation: a job queue with leases run by ``mloop worker``, and triggers that start
pipelines and deployment policies.

- Jobs (:mod:`mloop.automation.jobs`): queued in the metadata database, claimed with a lease
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one writer on SQLite), renewed while they run,
  taken back and retried when a worker dies. Kinds and their handlers are named in
  :data:`~mloop.automation.kinds.JOB_KINDS`.
- The worker (:mod:`mloop.automation.worker`): checks due triggers and runs jobs.
- Triggers (:mod:`mloop.automation.triggers`, :mod:`mloop.automation.schedules`): cron
  schedules, monitor alerts, new review labels, new dataset versions, manual, API and webhook
  firings, each with a de-duplication window and a concurrency policy; every firing is a
  trigger event.

The SDK (:mod:`mloop.automation.sdk`) is re-exported here::

    import mloop.automation as automation

    automation.create_trigger(
        "nightly", "cron", {"schedule": "0 3 * * *"}, {"pipeline": "train.flows:retrain"}
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

_SDK = (
    "add_job",
    "cancel_job",
    "create_trigger",
    "delete_trigger",
    "fire_trigger",
    "get_job",
    "get_trigger",
    "list_jobs",
    "list_triggers",
    "retry_job",
    "trigger_history",
    "update_trigger",
)
# Deployment policies (mloop.automation.policy_sdk).
_POLICY_SDK = (
    "approve",
    "create_deployment_policy",
    "delete_deployment_policy",
    "drive_policy_run",
    "get_deployment_policy",
    "get_policy_run",
    "list_deployment_policies",
    "model_timeline",
    "pending_approvals",
    "reject",
    "run_policy_now",
)
EXPORTS: dict[str, str] = {
    **dict.fromkeys(_SDK, "mloop.automation.sdk"),
    **dict.fromkeys(_POLICY_SDK, "mloop.automation.policy_sdk"),
    "JOB_KINDS": "mloop.automation.kinds",
    "JobContext": "mloop.automation.worker",
    "Worker": "mloop.automation.worker",
    "enqueue_job": "mloop.automation.jobs",
    "trigger_events": "mloop.automation.triggers",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.automation.jobs import enqueue_job
    from mloop.automation.kinds import JOB_KINDS
    from mloop.automation.policy_sdk import (
        approve,
        create_deployment_policy,
        delete_deployment_policy,
        drive_policy_run,
        get_deployment_policy,
        get_policy_run,
        list_deployment_policies,
        model_timeline,
        pending_approvals,
        reject,
        run_policy_now,
    )
    from mloop.automation.sdk import (
        add_job,
        cancel_job,
        create_trigger,
        delete_trigger,
        fire_trigger,
        get_job,
        get_trigger,
        list_jobs,
        list_triggers,
        retry_job,
        trigger_history,
        update_trigger,
    )
    from mloop.automation.triggers import trigger_events
    from mloop.automation.worker import JobContext, Worker
