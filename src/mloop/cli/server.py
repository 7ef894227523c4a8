"""``mloop server``: the HTTP API and web UI over the configured store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from mloop.cli._output import err_console
from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.core.config import Settings


def run_server(settings: Settings, host: str, port: int, auth: bool | None) -> None:
    """Serve ``settings``' store until interrupted; a refusal prints in red and exits 2."""
    from mloop.server.run import auth_required, serve

    try:
        enabled = auth_required(host, auth)
        shown = f"[{host}]" if ":" in host else host
        err_console().print(
            f"mloop server on [bold]http://{escape(shown)}:{port}[/bold] "
            f"(store: {escape(str(settings.home))}, auth: {'on' if enabled else 'off'}); "
            "Ctrl+C to stop",
            soft_wrap=True,
        )
        serve(settings, host=host, port=port, auth=enabled)
    except ValidationError as exc:
        err_console().print(f"[red]error: {escape(exc.message)}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def server(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; other than loopback needs --auth.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 5000,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require API tokens (default: MLOOP_AUTH; always on when not on loopback).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the mloop server (REST API and web UI) over MLOOP_HOME until interrupted."""
    from mloop.core.config import get_settings

    run_server(get_settings(), host, port, auth)
