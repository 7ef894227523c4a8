"""``mloop tokens``: API tokens, created directly in the configured database (never over HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from mloop.cli._output import console, err_console, fmt_time, print_json, print_table, warn

if TYPE_CHECKING:
    from mloop.auth.tokens import TokenInfo
    from mloop.store.context import Context

app = typer.Typer(
    help="Create, list and revoke API tokens in the local (or configured) database.",
    no_args_is_help=True,
)

T = TypeVar("T")


class RoleChoice(StrEnum):
    """Roles, weakest first: reader < writer < deployer < admin; a reviewer only answers
    review queues."""

    reader = "reader"
    reviewer = "reviewer"
    writer = "writer"
    deployer = "deployer"
    admin = "admin"


def _in_store(fn: Callable[[Context], T], *, write: bool) -> T:
    """Run ``fn`` in one transaction on the database the settings name."""
    from mloop.core.config import get_settings
    from mloop.store.runtime import open_runtime

    runtime = open_runtime(get_settings())
    try:
        return runtime.run(fn, write=write, actor="cli")
    finally:
        runtime.close()


def _token_dict(token: TokenInfo) -> dict[str, Any]:
    return {
        "name": token.name,
        "role": token.role,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "active": token.revoked_at is None,
    }


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the token, e.g. ci-pipeline.")],
    role: Annotated[
        RoleChoice, typer.Option("--role", "-r", help="What the token may do.")
    ] = RoleChoice.reader,
) -> None:
    """Create a token and print its secret on stdout (shown this once only)."""
    from mloop.auth.tokens import create_token

    secret = _in_store(lambda ctx: create_token(ctx, name, role.value), write=True)
    err_console().print(
        f"Created token [bold]{escape(name)}[/bold] with role [bold]{role.value}[/bold]."
    )
    warn("Copy the secret now: it is not stored and will not be shown again.")
    typer.echo(secret)  # alone on stdout, so `TOKEN=$(mloop tokens create ...)` works


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token; running servers refuse it within 5 seconds (they cache checks briefly)."""
    from mloop.auth.tokens import revoke_token

    _in_store(lambda ctx: revoke_token(ctx, name), write=True)
    console().print(f"Revoked token [bold]{escape(name)}[/bold].")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List tokens (names, roles and prefixes; never the secrets)."""
    from mloop.auth.tokens import list_tokens

    tokens = _in_store(list_tokens, write=False)
    if as_json:
        print_json([_token_dict(t) for t in tokens])
        return
    print_table(
        "API tokens",
        ["name", "role", "prefix", "status", "created", "last used"],
        [
            (
                t.name,
                t.role,
                t.prefix + "…",
                "active" if t.revoked_at is None else f"revoked {fmt_time(t.revoked_at)}",
                fmt_time(t.created_at),
                fmt_time(t.last_used_at),
            )
            for t in tokens
        ],
    )
