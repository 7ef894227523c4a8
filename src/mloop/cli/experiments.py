"""``mloop experiments``: list experiments and show one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mloop.cli._common import get_client, resolve_experiment
from mloop.cli._output import (
    console,
    fmt_duration,
    fmt_time,
    print_json,
    print_mapping,
    print_table,
)
from mloop.cli.runs import run_summary

app = typer.Typer(help="List and inspect experiments.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_RECENT_RUNS = 10


def experiment_dict(experiment: Any) -> dict[str, Any]:
    """The stable JSON shape of an experiment."""
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "lifecycle_stage": experiment.lifecycle_stage,
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
        "tags": dict(experiment.tags),
    }


@app.command("list")
def list_experiments(
    all_: Annotated[bool, typer.Option("--all", help="Include deleted experiments.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List experiments."""
    experiments = get_client().list_experiments(view="all" if all_ else "active")
    if as_json:
        print_json([experiment_dict(e) for e in experiments])
        return
    print_table(
        "Experiments",
        ["id", "name", "stage", "created", "artifact location"],
        [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                fmt_time(e.creation_time),
                e.artifact_location,
            )
            for e in experiments
        ],
    )


@app.command("show")
def show_experiment(
    id_or_name: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="Experiment id or name.")],
    as_json: JsonOption = False,
) -> None:
    """Show one experiment: its details, tags and most recent runs."""
    client = get_client()
    experiment = resolve_experiment(client, id_or_name)
    page = client.search_runs([experiment.experiment_id], max_results=_RECENT_RUNS)
    if as_json:
        body = experiment_dict(experiment)
        body["recent_runs"] = [run_summary(r) for r in page.runs]
        print_json(body)
        return
    print_mapping(
        f"Experiment {experiment.name}",
        {
            "id": experiment.experiment_id,
            "name": experiment.name,
            "stage": experiment.lifecycle_stage,
            "artifact location": experiment.artifact_location,
            "created": fmt_time(experiment.creation_time),
            "last update": fmt_time(experiment.last_update_time),
        },
        key="field",
        sort=False,
    )
    print_mapping("Tags", experiment.tags)
    if not page.runs:
        console().print("[dim]Runs: none[/dim]")
        return
    more = " (most recent; `mloop runs list -e ...` for all)" if page.next_page_token else ""
    print_table(
        f"Runs{more}",
        ["run id", "name", "status", "start", "duration"],
        [
            (
                r.info.run_id,
                r.info.run_name,
                r.info.status,
                fmt_time(r.info.start_time),
                fmt_duration(r.info.start_time, r.info.end_time),
            )
            for r in page.runs
        ],
    )
