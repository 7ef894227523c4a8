"""The summary ``mloop demo`` prints: a header, each step's part in order, the notes, and
where to look next."""

from __future__ import annotations

import shlex

from rich.markup import escape
from rich.panel import Panel

from mloop.cli._output import console
from mloop.cli.demo._context import DemoContext


def print_summary(ctx: DemoContext, port: int) -> None:
    out = console()
    out.print(
        Panel.fit(
            f"Demo finished in {ctx.seconds:.1f}s.\n"
            f"Store: [bold]{escape(str(ctx.home))}[/bold]\n"
            f"Experiment: [bold]{escape(ctx.config.experiment)}[/bold], {len(ctx.runs)} runs",
            title="mloop demo",
        )
    )
    for step in ctx.steps:
        if step.summarise is not None:
            step.summarise(ctx, out)
    for note in ctx.notes:
        out.print(escape(note))
    home = shlex.quote(str(ctx.home))
    port_option = "" if port == 5000 else f" --port {port}"
    out.print(
        "\nLook at it in the web UI:\n"
        f"  [bold]MLOOP_HOME={escape(home)} mloop server{port_option}[/bold]\n"
        f"  then open [bold]http://127.0.0.1:{port}[/bold]\n"
        "Or from the command line:\n"
        f'  MLOOP_HOME={escape(home)} mloop runs list --order-by "metrics.val_auc DESC"\n'
        f"  MLOOP_HOME={escape(home)} mloop models show {escape(ctx.config.model_name)}\n"
        f"  MLOOP_HOME={escape(home)} mloop datasets show {escape(ctx.dataset_ref)}\n"
        f"  MLOOP_HOME={escape(home)} mloop prompts show support-reply@production\n"
        "The gateway's calls, spend and routes are at /gateway in the UI.",
        soft_wrap=True,
    )
