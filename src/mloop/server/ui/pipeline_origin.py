"""What started a pipeline run, for the links on its page: the automation trigger its
``trigger`` names, the automation job that ran it, and the deployment policy run that
trained a candidate with it.

A pipeline run records only a ``trigger`` text, so the objects are found through the
automation domain's public functions: a trigger of that name; among the pipeline jobs (of
that trigger, when there is one) the job whose result names this run, else the one that
was running the same pipeline reference when this run started (a failed job has no
result); and the policy run the text names (``policy <name> run <id> (...)``, written by the
policy runner), kept only when that policy run recorded this pipeline run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mloop.core.errors import MloopError
from mloop.pipelines.schemas import PipelineRunInfo
from mloop.store.context import Context

JOBS_SEARCHED = 200
_POLICY = re.compile(r"^policy (?P<policy>\S+) run (?P<run>\d{1,10}) \(")


@dataclass
class Origin:
    trigger: str | None = None  # an automation trigger's name
    job: int | None = None  # the automation job's id
    policy_run: int | None = None  # the deployment policy run's id


def _trigger_exists(ctx: Context, name: str) -> bool:
    from mloop.automation.schemas import TriggerName
    from mloop.automation.triggers_api import get_trigger

    try:
        get_trigger(ctx, TriggerName(name=name))
    except (MloopError, ValueError):  # no such trigger, or not a trigger's name at all
        return False
    return True


def _job(ctx: Context, run: PipelineRunInfo, trigger: str | None) -> int | None:
    """The pipeline job that ran ``run``: a job passes its trigger's name (or nothing) on as
    the run's ``trigger``, so only runs with such a trigger text are looked for."""
    from mloop.automation.jobs_api import list_jobs
    from mloop.automation.schemas import ListJobs

    if trigger is None and run.trigger:
        return None  # "manual", "api", a deleted trigger: no job to find
    jobs = list_jobs(
        ctx, ListJobs(kind="pipeline", trigger=trigger, max_results=JOBS_SEARCHED)
    ).jobs
    for job in jobs:
        if isinstance(job.result, dict) and job.result.get("pipeline_run") == run.id:
            return job.id
    for job in jobs:
        if (
            job.trigger == trigger
            and job.payload.get("pipeline") == run.ref
            and job.started_at is not None
            and job.started_at <= run.start_time
            and (job.finished_at is None or run.start_time <= job.finished_at)
        ):
            return job.id
    return None


def _policy_run(ctx: Context, run: PipelineRunInfo) -> int | None:
    from mloop.automation.policy_runs import get_policy_run
    from mloop.automation.policy_schemas import RunRef

    found = _POLICY.match(run.trigger)
    if found is None:
        return None
    number = int(found["run"])
    try:
        detail = get_policy_run(ctx, RunRef(id=number))
    except (MloopError, ValueError):
        return None
    return number if detail.run.pipeline_run_id == run.id else None


def origin_of(ctx: Context, run: PipelineRunInfo) -> Origin:
    """The automation objects behind ``run`` that still exist (empty for a run started by
    hand)."""
    policy_run = _policy_run(ctx, run)
    if policy_run is not None:
        return Origin(policy_run=policy_run)
    trigger = run.trigger if run.trigger and _trigger_exists(ctx, run.trigger) else None
    return Origin(trigger=trigger, job=_job(ctx, run, trigger))
