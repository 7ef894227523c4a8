"""``mloop demo``: train a few models into a fresh store and show what mloop keeps of them.

The package holds one module per step (``data``, ``sgd``, ..., ``llm``), each defining its
``STEP``; ``_steps`` lists them in order, ``_context`` holds what they share, ``_run`` runs
them, and ``_progress`` and ``_summary`` draw the output. This module only declares the
command: the steps and their dependencies (scikit-learn, MLflow, the gateway) are imported
when the demo runs, not when ``mloop --help`` builds the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    from mloop.cli.demo._progress import run_with_progress
    from mloop.cli.demo._run import default_home
    from mloop.cli.demo._summary import print_summary

    ctx = run_with_progress(home or default_home())
    print_summary(ctx, port)
    if serve:
        from mloop.cli.server import run_server
        from mloop.core.config import Settings

        run_server(Settings.for_home(ctx.home), "127.0.0.1", port, auth=None)
