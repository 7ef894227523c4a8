"""Reading pipeline runs: one run with its steps and lineage, runs by pipeline, status or
produced model, and the pipelines with their latest run.

Lineage comes from the other domains' public functions: the model versions registered from
the run's tracking run (:func:`mloop.registry.lineage.versions_from_run`) and the dataset
versions it read (its tracking inputs, matched to registered versions by digest).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, func, select

from mloop.core.errors import NotFoundError
from mloop.core.naming import check_asset_name
from mloop.pipelines import tables as t
from mloop.pipelines.ops import operations
from mloop.pipelines.records import load_run_row, run_info
from mloop.pipelines.schemas import (
    Attempt,
    DatasetIn,
    GraphSpec,
    ListPipelineRuns,
    ListPipelines,
    ModelOut,
    PipelineList,
    PipelineRunDetail,
    PipelineRunId,
    PipelineRunInfo,
    PipelineRunList,
    PipelineSummary,
    StepRun,
)
from mloop.store.context import Context


def _step(row: Any) -> StepRun:
    return StepRun(
        node=row.node,
        step=row.step,
        status=row.status,
        attempts=[Attempt(**a) for a in json.loads(row.attempts_json)],
        cache_key=row.cache_key,
        cache_hit=row.cache_hit,
        start_time=row.start_time,
        end_time=row.end_time,
        log_tail=row.log_tail,
        error=row.error,
        duration_ms=(
            row.end_time - row.start_time
            if row.end_time is not None and row.start_time is not None
            else None
        ),
    )


def _datasets_read(ctx: Context, run_id: str) -> list[DatasetIn]:
    from mloop.datasets.lineage import registered_versions
    from mloop.tracking.runs import load_runs

    runs = load_runs(ctx, [run_id])
    if not runs:
        return []  # the tracking run was deleted for good
    inputs = runs[0].inputs
    versions = registered_versions(ctx, [(i.name, i.digest) for i in inputs])
    return [
        DatasetIn(
            name=i.name,
            digest=i.digest,
            context=i.context,
            version=versions.get((i.name, i.digest)),
        )
        for i in inputs
    ]


def _models_registered(ctx: Context, run_id: str) -> list[ModelOut]:
    from mloop.registry.lineage import versions_from_run

    return [ModelOut(name=v.name, version=v.version) for v in versions_from_run(ctx, run_id)]


@operations.get("/runs/get", PipelineRunId, PipelineRunDetail)
def get_pipeline_run(ctx: Context, req: PipelineRunId) -> PipelineRunDetail:
    """One pipeline run with its graph, steps, dataset versions read and models registered."""
    row = load_run_row(ctx, req.id)
    s = t.pipeline_steps.c
    steps = ctx.conn.execute(
        select(t.pipeline_steps).where(s.pipeline_run_id == row.id).order_by(s.id)
    )
    return PipelineRunDetail(
        **run_info(row).model_dump(),
        graph=GraphSpec.model_validate_json(row.graph_json),
        steps=[_step(r) for r in steps],
        models=_models_registered(ctx, row.run_id),
        datasets=_datasets_read(ctx, row.run_id),
    )


def _run_ids_of_model(ctx: Context, model: str) -> list[str]:
    from mloop.registry.schemas import ListModelVersions
    from mloop.registry.versions import list_model_versions

    run_ids: list[str] = []
    token = None
    while True:
        try:
            page = list_model_versions(
                ctx, ListModelVersions(name=model, max_results=1000, page_token=token)
            )
        except NotFoundError:
            raise NotFoundError(
                f"registered model {model!r} does not exist", field="model"
            ) from None
        run_ids += [v.run_id for v in page.model_versions if v.run_id]
        token = page.next_page_token
        if token is None:
            return run_ids


def pipeline_runs_for_model(
    ctx: Context, model_name: str, max_results: int = 100
) -> list[PipelineRunInfo]:
    """The pipeline runs that registered a version of ``model_name``, newest first (for the
    automation timeline)."""
    return list_pipeline_runs(ctx, ListPipelineRuns(model=model_name, max_results=max_results)).runs


@operations.get("/runs/list", ListPipelineRuns, PipelineRunList)
def list_pipeline_runs(ctx: Context, req: ListPipelineRuns) -> PipelineRunList:
    """Pipeline runs newest first, by pipeline, status or a model they registered."""
    r = t.pipeline_runs.c
    query = select(t.pipeline_runs)
    if req.pipeline is not None:
        query = query.where(r.pipeline == check_asset_name(req.pipeline, "pipeline"))
    if req.status is not None:
        query = query.where(r.status == req.status)
    if req.model is not None:
        run_ids = _run_ids_of_model(ctx, check_asset_name(req.model, "model"))
        if not run_ids:
            return PipelineRunList(runs=[])
        query = query.where(r.run_id.in_(set(run_ids)))
    rows = ctx.conn.execute(query.order_by(r.id.desc()).limit(req.max_results))
    return PipelineRunList(runs=[run_info(row) for row in rows])


@operations.get("/list", ListPipelines, PipelineList)
def list_pipelines(ctx: Context, req: ListPipelines) -> PipelineList:
    """Every pipeline that has run, with its run counts and latest run, by name."""
    r = t.pipeline_runs.c
    stats = ctx.conn.execute(
        select(
            r.pipeline,
            func.count().label("runs"),
            func.sum((r.status == "succeeded").cast(Integer)).label("succeeded"),
            func.sum((r.status == "failed").cast(Integer)).label("failed"),
            func.max(r.id).label("last_id"),
        )
        .group_by(r.pipeline)
        .order_by(r.pipeline)
        .limit(req.max_results)
    ).all()
    last = {
        row.id: row
        for row in ctx.conn.execute(
            select(t.pipeline_runs).where(r.id.in_([s.last_id for s in stats]))
        )
    }
    return PipelineList(
        pipelines=[
            PipelineSummary(
                name=s.pipeline,
                ref=last[s.last_id].ref,
                runs=s.runs,
                succeeded=s.succeeded or 0,
                failed=s.failed or 0,
                last_run=run_info(last[s.last_id]),
            )
            for s in stats
        ]
    )
