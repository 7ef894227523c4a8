"""``mloop pipelines``: run a pipeline, list and show runs, batch-score a dataset."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import (
    console,
    fmt_duration,
    fmt_time,
    info,
    print_json,
    print_table,
)
from mloop.cli.monitors._parse import usage_error

if TYPE_CHECKING:
    from mloop.pipelines.driver import PipelineRun
    from mloop.pipelines.schemas import PipelineRunDetail

app = typer.Typer(
    help="Pipelines: run one, list and show runs, batch-score a dataset with a model.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=1024, help="Worker processes (default: the cores)."),
]


class ExecutorName(StrEnum):
    local = "local"
    ray = "ray"


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


ExecutorOption = Annotated[
    ExecutorName, typer.Option("--executor", help="Where steps run: local processes or Ray.")
]


def _params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs. Values are text, converted by the pipeline's type hints
    (``3`` for an ``int``); a value starting with ``[`` or ``{`` is read as JSON."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            usage_error(f"-p takes key=value, got {pair!r}", "--param")
        if key in params:
            usage_error(f"param {key!r} is given twice", "--param")
        if value[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                usage_error(f"param {key!r} is not valid JSON: {exc}", "--param")
        else:
            params[key] = value
    return params


def _steps_table(detail: PipelineRunDetail) -> None:
    rows = [
        (
            s.node,
            s.status,
            len(s.attempts),
            s.cache_hit,
            fmt_duration(s.start_time, s.end_time),
            _first_line(s.error),
        )
        for s in detail.steps
    ]
    print_table(
        f"pipeline run {detail.id}: steps",
        ["step", "status", "attempts", "cached", "duration", "error"],
        rows,
    )


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def _print_run(detail: PipelineRunDetail) -> None:
    fields = {
        "id": detail.id,
        "pipeline": detail.pipeline,
        "ref": detail.ref,
        "status": detail.status,
        "executor": detail.executor,
        "trigger": detail.trigger or None,
        "tracking run": detail.run_id,
        "started": fmt_time(detail.start_time),
        "duration": fmt_duration(detail.start_time, detail.end_time),
        "params": json.dumps(detail.params) if detail.params else None,
        "outputs": json.dumps(detail.outputs) if detail.outputs is not None else None,
        "error": detail.error or None,
    }
    print_table(None, ["field", "value"], [(k, v) for k, v in fields.items() if v is not None])
    _steps_table(detail)
    if detail.datasets:
        print_table(
            "datasets read",
            ["dataset", "version", "context"],
            [(d.name, d.version, d.context) for d in detail.datasets],
        )
    if detail.models:
        print_table(
            "models registered", ["model", "version"], [(m.name, m.version) for m in detail.models]
        )


def _finish(run: PipelineRun, as_json: bool) -> None:
    """Print a finished run; exit 1 when it failed."""
    from mloop.pipelines.sdk import get_run

    detail = get_run(run.id, client=get_client())
    if as_json:
        print_json(detail.model_dump(mode="json"))
    else:
        _print_run(detail)
    if run.status != "succeeded":
        raise typer.Exit(1)


def _importable_here() -> None:
    """Pipelines are named ``package.module:function`` of the project in the current
    directory, as ``python -m`` would find them."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


@app.command("run")
def run(
    pipeline: Annotated[str, typer.Argument(help="The pipeline: package.module:function.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A param as key=value (JSON after [ or {)."),
    ] = None,
    executor: ExecutorOption = ExecutorName.local,
    workers: WorkersOption = None,
    trigger: Annotated[
        str, typer.Option("--trigger", help="What started the run (recorded).")
    ] = "cli",
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline and wait for it; prints the run and its steps, exits 1 if it failed."""
    from mloop.pipelines.driver import run_pipeline

    _importable_here()
    params = _params(param or [])
    with console().status(f"running {pipeline}", spinner="dots"):
        result = run_pipeline(
            pipeline,
            params,
            executor=executor.value,
            workers=workers,
            trigger=trigger,
            client=get_client(),
        )
    _finish(result, as_json)


@app.command("runs")
def runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    status: Annotated[RunStatus | None, typer.Option("--status", help="Only this status.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Only runs that registered a version of it.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Pipeline runs, newest first."""
    from mloop.pipelines.sdk import list_runs

    found = list_runs(
        pipeline,
        status=status.value if status else None,
        model=model,
        max_results=max_results,
        client=get_client(),
    )
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    if not found:
        info("no pipeline runs")
        return
    print_table(
        "pipeline runs",
        ["id", "pipeline", "status", "executor", "trigger", "started", "duration", "error"],
        [
            (
                r.id,
                r.pipeline,
                r.status,
                r.executor,
                r.trigger or None,
                fmt_time(r.start_time),
                fmt_duration(r.start_time, r.end_time),
                _first_line(r.error) or None,
            )
            for r in found
        ],
    )


@app.command("list")
def list_pipelines(as_json: JsonOption = False) -> None:
    """Every pipeline that has run, with its counts and latest run."""
    from mloop.pipelines.sdk import list_pipelines as listed

    found = listed(client=get_client())
    if as_json:
        print_json([p.model_dump(mode="json") for p in found])
        return
    if not found:
        info("no pipelines have run")
        return
    print_table(
        "pipelines",
        ["pipeline", "ref", "runs", "succeeded", "failed", "last run", "last status"],
        [
            (p.name, p.ref, p.runs, p.succeeded, p.failed, p.last_run.id, p.last_run.status)
            for p in found
        ],
    )


@app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="The pipeline run's id.", min=1)],
    as_json: JsonOption = False,
) -> None:
    """A pipeline run: its fields, steps, datasets read and models registered."""
    from mloop.pipelines.sdk import get_run

    detail = get_run(run_id, client=get_client())
    if as_json:
        print_json(detail.model_dump(mode="json"))
        return
    _print_run(detail)
    tails = [(s.node, s.log_tail) for s in detail.steps if s.log_tail.strip()]
    for node, tail in tails:
        console().print(f"[bold]{node}[/bold] printed:", highlight=False)
        console().print(tail.rstrip()[-2000:], markup=False, highlight=False)


@app.command("score")
def score(
    model: Annotated[str, typer.Option("--model", help="models:/name/3 or models:/name@alias.")],
    dataset: Annotated[str, typer.Option("--dataset", help="name, name/2 or name@alias.")],
    output: Annotated[str, typer.Option("--output", help="The dataset the scores become.")],
    partitions: Annotated[
        int, typer.Option("--partitions", help="Parallel partitions (1 to 1024).")
    ] = 4,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="A model input column (default: its signature's)."),
    ] = None,
    keep: Annotated[
        list[str] | None, typer.Option("--keep", "-k", help="A column to copy to the output.")
    ] = None,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow loading a model that runs code (pickle).")
    ] = False,
    executor: ExecutorOption = ExecutorName.local,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a dataset with a model into a new dataset version; exits 1 if the run failed."""
    from mloop.pipelines.scoring import batch_score_run

    with console().status(f"scoring {dataset} with {model}", spinner="dots"):
        result = batch_score_run(
            model,
            dataset,
            output=output,
            partitions=partitions,
            executor=executor.value,
            workers=workers,
            columns=column or None,
            keep=keep or None,
            trusted=trusted,
            trigger="cli",
            client=get_client(),
        )
    _finish(result, as_json)
    if not as_json and isinstance(result.outputs, dict):
        made = result.outputs
        info(f"registered dataset {made['name']} version {made['version']}")
