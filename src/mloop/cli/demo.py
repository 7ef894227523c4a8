"""``mloop demo``: train a few models into a fresh store and show what mloop keeps of them."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mloop.cli._output import console, err_console, print_table
from mloop.cli.demo_steps import DemoState, default_home, run_demo


class _ProgressReporter:
    """Shows each demo step as a Rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def begin(self, title: str, total: int) -> None:
        self._finish_current()
        self._task = self._progress.add_task(title, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def _finish_current(self) -> None:
        for task in self._progress.tasks:
            if task.id == self._task:
                self._progress.update(task.id, completed=task.total)

    def close(self) -> None:
        self._finish_current()


def _run_with_progress(home: Path) -> DemoState:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
    )
    reporter = _ProgressReporter(progress)
    with progress:
        state = run_demo(home, reporter)
        reporter.close()
    return state


def _print_data(state: DemoState) -> None:
    """The training data's version and the batch its contract refused."""
    from mloop.cli.demo_data import CONTRACT_NAME, failed_checks

    out = console()
    out.print(
        f"Training data: dataset [bold]{escape(state.dataset_ref)}[/bold], registered after "
        f"passing contract [bold]{CONTRACT_NAME}[/bold] "
        f"({escape(str(state.home / 'contracts'))}); every run below read it."
    )
    failed = failed_checks(state.rejected_report)
    if failed:
        print_table(
            "A corrupted batch was refused by the contract and never stored or trained on",
            ["check", "failing rows", "found"],
            failed,
        )


def _print_llm(state: DemoState) -> None:
    """The gateway calls of the LLM step, read back from the call log."""
    if state.llm is None:
        return
    out = console()
    out.print(f"\n[bold]LLM gateway[/bold]: {escape(state.llm['note'])}")
    print_table(
        f"Calls to route {state.llm['route']} (prompt {state.llm['prompt']}), from the call log",
        [
            "request",
            "HTTP",
            "prompt",
            "served by",
            "cache",
            "guardrails",
            "fallbacks",
            "cost $",
            "ms",
        ],
        [
            (
                c["what"],
                c["status"],
                c["prompt"],
                c["served_by"],
                c["cache"],
                c["guardrails"],
                c["fallbacks"],
                f"{c['cost_usd']:.6f}",
                f"{c['latency_ms']:.0f}",
            )
            for c in state.llm["calls"]
        ],
    )
    first = state.llm["calls"][0]
    out.print(f"First answer: {escape(first['answer'][:160])}")


def _print_summary(state: DemoState, port: int) -> None:
    out = console()
    home = shlex.quote(str(state.home))
    port_option = "" if port == 5000 else f" --port {port}"
    aliases = {r.run.run_id: f"{r.alias} v{r.version}" for r in state.registered}
    out.print(
        Panel.fit(
            f"Demo finished in {state.seconds:.1f}s.\n"
            f"Store: [bold]{escape(str(state.home))}[/bold]\n"
            f"Experiment: [bold]{escape(state.config.experiment)}[/bold], {len(state.runs)} runs",
            title="mloop demo",
        )
    )
    _print_data(state)
    print_table(
        "Runs, best first (validation set)",
        ["run", "AUC", "accuracy", "log loss", "alias", "run id"],
        [
            (
                r.run_name,
                f"{r.val_auc:.4f}",
                f"{r.val_accuracy:.4f}",
                f"{r.val_loss:.4f}",
                aliases.get(r.run_id, ""),
                r.run_id,
            )
            for r in state.ranked()
        ],
    )
    for version in state.registered:
        out.print(
            f"[bold]{escape(version.name)}[/bold] version {version.version} "
            f"@[bold green]{version.alias}[/bold green] ← run {escape(version.run.run_name)} "
            f"(AUC {version.run.val_auc:.4f})"
        )
    if state.predictions:
        uri = f"models:/{state.config.model_name}@champion"
        out.print(f"\nLoaded [bold]{escape(uri)}[/bold] and predicted 5 validation rows:")
        print_table(
            None,
            ["row", "predicted", "actual", "P(benign)"],
            [
                (p["row"], p["predicted"], p["actual"], f"{p['p_benign']:.3f}")
                for p in state.predictions
            ],
        )
    _print_llm(state)
    for note in state.notes:
        out.print(escape(note))
    out.print(
        "\nLook at it in the web UI:\n"
        f"  [bold]MLOOP_HOME={escape(home)} mloop server{port_option}[/bold]\n"
        f"  then open [bold]http://127.0.0.1:{port}[/bold]\n"
        "Or from the command line:\n"
        f'  MLOOP_HOME={escape(home)} mloop runs list --order-by "metrics.val_auc DESC"\n'
        f"  MLOOP_HOME={escape(home)} mloop models show {escape(state.config.model_name)}\n"
        f"  MLOOP_HOME={escape(home)} mloop datasets show {escape(state.dataset_ref)}\n"
        f"  MLOOP_HOME={escape(home)} mloop prompts show support-reply@production\n"
        "The gateway's calls, spend and routes are at /gateway in the UI.",
        soft_wrap=True,
    )


def demo(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Directory for the demo's store (must be new or empty). "
            "Default: ./mloop-demo-<timestamp>.",
            show_default=False,
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Start the server and UI on the store afterwards.")
    ] = False,
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=1, max=65535, help="Port for --serve (and the hint)."),
    ] = 5000,
) -> None:
    """Train several scikit-learn models into a fresh store, register the best, and summarise."""
    state = _run_with_progress(home or default_home())
    _print_summary(state, port)
    if serve:
        from mloop.cli.server import run_server
        from mloop.core.config import Settings

        run_server(Settings.for_home(state.home), "127.0.0.1", port, auth=None)
