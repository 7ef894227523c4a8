"""``mloop runs``: search runs and show one run in full."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli._common import get_client, resolve_experiment
from mloop.cli._output import (
    cell,
    console,
    fmt_duration,
    fmt_size,
    fmt_time,
    print_json,
    print_mapping,
    print_table,
)

if TYPE_CHECKING:
    from mloop.client import Client
    from mloop.tracking.schemas import MetricPoint, Run

app = typer.Typer(help="Search and inspect runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_PAGE = 1000


def run_summary(run: Run) -> dict[str, Any]:
    """The stable JSON shape of a run in a listing."""
    i = run.info
    return {
        "run_id": i.run_id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id,
        "status": i.status,
        "start_time": i.start_time,
        "end_time": i.end_time,
        "duration_ms": (i.end_time - i.start_time) if i.end_time is not None else None,
        "user_id": i.user_id,
        "parent_run_id": i.parent_run_id,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
    }


def _keys(runs: list[Run], attr: str) -> list[str]:
    keys: set[str] = set()
    for run in runs:
        keys.update(getattr(run.data, attr))
    return sorted(keys)


def _keys_by_use(runs: list[Run], attr: str) -> list[str]:
    """The ``attr`` ("metrics" or "params") keys of ``runs``, those most runs have first
    (ties alphabetically)."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in getattr(run.data, attr):
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def _named(filter_string: str, order_by: list[str]) -> list[tuple[str, str]]:
    """The (kind, key) metrics and params the ordering names (the sort key first), then
    those the filter names; what does not parse names nothing."""
    from mloop.core.errors import ValidationError
    from mloop.tracking.search_parser import parse_filter, parse_order_by

    named: list[tuple[str, str]] = []
    try:
        terms = [(o.kind, o.key) for o in parse_order_by(order_by)]
        terms += [(c.kind, c.key) for c in parse_filter(filter_string)]
    except ValidationError:
        return named
    for kind, key in terms:
        if kind in ("metric", "param") and (f"{kind}s", key) not in named:
            named.append((f"{kind}s", key))
    return named


def _width(header: str, cells: list[str]) -> int:
    """Columns a table column takes: its widest cell or header, plus padding and border."""
    return max([len(header), *(len(c) for c in cells)]) + 3


def _fit_columns(
    runs: list[Run],
    base: list[tuple[str, list[str]]],
    named: list[tuple[str, str]],
    room: int,
) -> list[tuple[str, str]]:
    """The (kind, key) metric and param columns that fit in ``room`` characters.

    The sort key and the keys the filter names come first, then the metrics most runs
    have, then the params most runs have (not the first keys in alphabetical order).
    """
    used = 1 + sum(_width(header, cells) for header, cells in base)
    present = {("metrics", k) for k in _keys(runs, "metrics")}
    present |= {("params", k) for k in _keys(runs, "params")}
    candidates = [c for c in named if c in present]
    candidates += [("metrics", k) for k in _keys_by_use(runs, "metrics")]
    candidates += [("params", k) for k in _keys_by_use(runs, "params")]
    chosen: list[tuple[str, str]] = []
    for kind, key in candidates:
        if (kind, key) in chosen:
            continue
        cells = [cell(getattr(r.data, kind).get(key)) for r in runs]
        width = _width(f"{kind}.{key}", cells)
        if used + width > room:
            continue
        used += width
        chosen.append((kind, key))
    return chosen


@app.command("list")
def list_runs(
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment", "-e", help="Experiment name or id (repeatable). Default: all."
        ),
    ] = None,
    filter_string: Annotated[
        str, typer.Option("--filter", "-f", help='Filter, e.g. "metrics.auc > 0.8".')
    ] = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help='Ordering, e.g. "metrics.auc DESC" (repeatable).'),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max", "-n", min=1, max=50_000, help="Most runs to list.")
    ] = 100,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    client = get_client()
    ids = [resolve_experiment(client, e).experiment_id for e in experiment or []]
    runs = client.search_all_runs(ids, filter_string, list(order_by or []), limit=max_results)
    if as_json:
        print_json([run_summary(r) for r in runs])
        return
    several = len({r.info.experiment_id for r in runs}) > 1
    base: list[tuple[str, list[str]]] = [
        ("run id", [r.info.run_id for r in runs]),
        ("name", [r.info.run_name for r in runs]),
        ("status", [r.info.status for r in runs]),
        ("start", [fmt_time(r.info.start_time) for r in runs]),
        ("duration", [fmt_duration(r.info.start_time, r.info.end_time) for r in runs]),
    ]
    if several:
        base.insert(0, ("experiment", [r.info.experiment_id for r in runs]))
    out = console()
    extra = _fit_columns(runs, base, _named(filter_string, list(order_by or [])), out.width)
    columns = [header for header, _ in base] + [f"{kind}.{key}" for kind, key in extra]
    rows = [
        [cells[i] for _, cells in base] + [getattr(r.data, kind).get(key) for kind, key in extra]
        for i, r in enumerate(runs)
    ]
    print_table(f"Runs ({len(runs)})", columns, rows)
    hidden = len(_keys(runs, "metrics")) + len(_keys(runs, "params")) - len(extra)
    if hidden:
        # On the table's stream: a note about the table belongs with it (scripts read --json).
        out.print(
            f"{hidden} more metric/param columns did not fit; --json has every value.",
            markup=False,
            soft_wrap=True,
        )


def _metric_summary(points: list[MetricPoint]) -> dict[str, Any]:
    finite = [p.value for p in points if math.isfinite(p.value)]
    return {
        "count": len(points),
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "first_step": min(p.step for p in points) if points else None,
        "last_step": max(p.step for p in points) if points else None,
    }


def _run_detail(client: Client, run: Run) -> dict[str, Any]:
    """Everything ``runs show`` prints, in the stable JSON shape."""
    run_id = run.info.run_id
    histories = {k: client.get_metric_history(run_id, k) for k in sorted(run.data.metrics)}
    artifacts = client.call("walk_artifacts", run_id=run_id, path="").files
    body = run_summary(run)
    body.update(
        {
            "lifecycle_stage": run.info.lifecycle_stage,
            "artifact_uri": run.info.artifact_uri,
            "metric_history": {k: _metric_summary(v) for k, v in histories.items()},
            "inputs": [d.model_dump() for d in run.inputs],
            "artifacts": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in artifacts],
        }
    )
    return body


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one run: info, params, metrics, tags, inputs and artifacts."""
    client = get_client()
    run = client.get_run(run_id)
    body = _run_detail(client, run)
    if as_json:
        print_json(body)
        return
    i = run.info
    experiment = client.get_experiment(i.experiment_id)
    print_mapping(
        f"Run {i.run_name}",
        {
            "run id": i.run_id,
            "name": i.run_name,
            "experiment": f"{experiment.name} ({i.experiment_id})",
            "status": i.status,
            "stage": i.lifecycle_stage,
            "user": i.user_id,
            "start": fmt_time(i.start_time),
            "end": fmt_time(i.end_time),
            "duration": fmt_duration(i.start_time, i.end_time),
            "parent run": i.parent_run_id,
            "artifact uri": i.artifact_uri,
        },
        key="field",
        sort=False,
    )
    print_mapping("Params", run.data.params)
    if run.data.metrics:
        print_table(
            "Metrics",
            ["key", "latest", "steps", "min", "max", "last step"],
            [
                (k, run.data.metrics[k], h["count"], h["min"], h["max"], h["last_step"])
                for k, h in body["metric_history"].items()
            ],
        )
    else:
        console().print("[dim]Metrics: none[/dim]")
    print_mapping("Tags", run.data.tags)
    if run.inputs:
        print_table(
            "Inputs",
            ["name", "digest", "context", "source"],
            [(d.name, d.digest, d.context, d.source) for d in run.inputs],
        )
    if body["artifacts"]:
        print_table(
            "Artifacts",
            ["path", "size"],
            [(a["path"], fmt_size(a["size"])) for a in body["artifacts"]],
        )
    else:
        console().print("[dim]Artifacts: none[/dim]")
