"""Built-in job handlers (see :data:`~mloop.automation.kinds.JOB_KINDS`)."""

from __future__ import annotations

from typing import Any

from mloop.automation.worker import JobContext
from mloop.core.errors import ValidationError


class PipelineFailed(Exception):
    """A pipeline run that did not succeed: the job's attempt fails (and may be retried)."""


def run_pipeline_job(job: JobContext) -> dict[str, Any]:
    """Kind ``pipeline``: run ``payload["pipeline"]`` with ``payload["params"]`` on
    ``payload["executor"]`` (default ``local``) through :func:`mloop.pipelines.run_pipeline`;
    the result names the pipeline run, its tracking run and its outputs."""
    from mloop.pipelines import run_pipeline

    reference = job.payload.get("pipeline")
    if not isinstance(reference, str) or ":" not in reference:
        raise ValidationError(
            "payload.pipeline must be 'package.module:function'", field="payload.pipeline"
        )
    params = job.payload.get("params") or {}
    if not isinstance(params, dict):
        raise ValidationError("payload.params must be a JSON object", field="payload.params")
    executor = job.payload.get("executor") or "local"
    run = run_pipeline(reference, params, executor=executor, trigger=job.trigger)
    if run.status != "succeeded":
        raise PipelineFailed(f"pipeline run {run.id} {run.status}: {run.error}")
    return {
        "pipeline_run": run.id,
        "run_id": run.run_id,
        "status": run.status,
        "outputs": run.outputs,
    }
