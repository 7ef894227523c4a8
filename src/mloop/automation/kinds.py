"""The job kinds a worker runs: kind -> ``"module:function"`` of its handler.

A handler is ``handler(job: JobContext) -> dict | None``; what it returns is stored as the
job's result. This dict is the one place kinds are named: :func:`~mloop.automation.jobs.enqueue_job`
refuses a kind that is not here, and a worker imports a handler only when it runs one.
"""

JOB_KINDS: dict[str, str] = {
    # mloop.pipelines.run_pipeline; payload {"pipeline": ref, "params": {...}, "executor": ...}
    "pipeline": "mloop.automation.handlers:run_pipeline_job",
    # Advances a deployment policy run; payload {"run_id": N}, or a trigger's {"policy": ...}.
    "policy": "mloop.automation.policy_jobs:run_policy_job",
}
