"""Pipelines: plain Python functions made into tracked, cached, retried steps.

``@step`` marks a unit of work (retries, a timeout, a cache), ``@pipeline`` a function that
wires steps together; :func:`run_pipeline` traces the pipeline into a step graph and runs
it on worker processes (``executor="local"``) or Ray (``executor="ray"``)::

    from mloop.pipelines import pipeline, run_pipeline, step

    @step
    def double(x: int) -> int:
        return 2 * x

    @pipeline
    def doubled(x: int = 2) -> int:
        return double(x)

    run_pipeline(doubled, {"x": 21}).outputs  # 42

Each run is a tracking run; its steps are recorded with status, attempts, timings and logs
(:mod:`mloop.pipelines.records`), and the model versions it registered and dataset versions
it read are its lineage (:mod:`mloop.pipelines.queries`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "step": "mloop.pipelines.decorators",
    "pipeline": "mloop.pipelines.decorators",
    "Step": "mloop.pipelines.decorators",
    "Pipeline": "mloop.pipelines.decorators",
    "run_pipeline": "mloop.pipelines.driver",
    "PipelineRun": "mloop.pipelines.driver",
    "PipelineFailed": "mloop.pipelines.driver",
    "StepResult": "mloop.pipelines.driver",
    "Executor": "mloop.pipelines.executors",
    "LocalExecutor": "mloop.pipelines.local",
    "RayExecutor": "mloop.pipelines.ray_executor",
    "pipeline_runs_for_model": "mloop.pipelines.queries",
    "batch_score": "mloop.pipelines.scoring",
    "batch_score_run": "mloop.pipelines.scoring",
    "get_run": "mloop.pipelines.sdk",
    "list_runs": "mloop.pipelines.sdk",
    "list_pipelines": "mloop.pipelines.sdk",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from mloop.pipelines.decorators import Pipeline, Step, pipeline, step
    from mloop.pipelines.driver import PipelineFailed, PipelineRun, StepResult, run_pipeline
    from mloop.pipelines.executors import Executor
    from mloop.pipelines.local import LocalExecutor
    from mloop.pipelines.queries import pipeline_runs_for_model
    from mloop.pipelines.ray_executor import RayExecutor
    from mloop.pipelines.scoring import batch_score, batch_score_run
    from mloop.pipelines.sdk import get_run, list_pipelines, list_runs
