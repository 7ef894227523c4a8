"""Reading pipeline runs from the SDK (embedded or remote, as the tracking URI says)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mloop.pipelines.schemas import PipelineRunDetail, PipelineRunInfo, PipelineSummary

if TYPE_CHECKING:
    from mloop.client.client import Client


def _call(client: Client | None, operation: str, /, **fields: Any) -> Any:
    if client is None:
        from mloop.client.client import Client

        client = Client()
    return client.call(operation, **fields)


def get_run(run: int, *, client: Client | None = None) -> PipelineRunDetail:
    """A pipeline run with its steps, dataset versions read and model versions registered."""
    return _call(client, "get_pipeline_run", id=run)


def list_runs(
    pipeline: str | None = None,
    *,
    status: str | None = None,
    model: str | None = None,
    max_results: int = 100,
    client: Client | None = None,
) -> list[PipelineRunInfo]:
    """Pipeline runs newest first; ``model`` keeps those that registered a version of it."""
    page = _call(
        client,
        "list_pipeline_runs",
        pipeline=pipeline,
        status=status,
        model=model,
        max_results=max_results,
    )
    return list(page.runs)


def list_pipelines(*, client: Client | None = None) -> list[PipelineSummary]:
    """Every pipeline that has run, with its counts and latest run."""
    return list(_call(client, "list_pipelines").pipelines)
