"""``mloop import``: copy another tool's experiments, runs and models into mloop."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mloop.cli._common import get_client
from mloop.cli._output import err_console, fail, print_json, print_table

if TYPE_CHECKING:
    from mloop.compat.mlflow.importer import ImportSummary

app = typer.Typer(
    help="Import experiments, runs and models from other tools.", no_args_is_help=True
)


class _RichProgress:
    """One Rich progress bar per phase of the import, on stderr."""

    def __init__(self) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[dim]{task.fields[item]}[/dim]"),
            TimeElapsedColumn(),
            console=err_console(),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def begin(self, title: str, total: int) -> None:
        self._task = self._progress.add_task(title, total=total, item="")

    def advance(self, label: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, item=label[:60])


def _print_summary(summary: ImportSummary) -> None:
    from mloop.compat.mlflow.importer import KINDS

    skipped = {kind: 0 for kind in KINDS}
    for issue in summary.skipped:
        skipped[issue.kind] = skipped.get(issue.kind, 0) + 1
    failed = {kind: 0 for kind in KINDS}
    for issue in summary.failed:
        failed[issue.kind] = failed.get(issue.kind, 0) + 1
    print_table(
        f"Imported from {summary.source}",
        ["kind", "copied", "skipped", "failed"],
        [
            (kind, summary.copied.get(kind, 0), skipped.get(kind, 0), failed.get(kind, 0))
            for kind in skipped
        ],
    )
    if summary.skipped:
        print_table("Skipped", ["kind", "reason", "count"], summary.skip_counts())
    if summary.failed:
        print_table(
            "Failed",
            ["kind", "item", "error"],
            [(i.kind, i.item, i.reason) for i in summary.failed],
        )


@app.command("mlflow")
def import_mlflow(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="MLflow tracking URI (http(s)://, sqlite:///, file:) or an mlruns directory.",
        ),
    ],
    include_deleted: Annotated[
        bool,
        typer.Option(
            "--include-deleted", help="Also import deleted experiments and runs (kept deleted)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Copy MLflow experiments, runs, artifacts, models and aliases into mloop.

    Run ids are kept, so runs:/<run_id>/... URIs keep working. Running it again copies only
    what is new: what is already there is skipped as "already imported".
    """
    from mloop.compat.mlflow.importer import import_mlflow as run_import

    client = get_client()
    with _RichProgress() as progress:
        summary = run_import(client, source, include_deleted=include_deleted, progress=progress)
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.failed:
        fail(f"{len(summary.failed)} item(s) could not be imported; the summary lists why")
