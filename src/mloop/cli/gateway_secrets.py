"""``mloop gateway secrets``: encrypted provider keys in the configured database.

Values are read from a hidden prompt or from stdin, never from the command line (where shell
history and ``ps`` would keep them), and never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape

from mloop.cli._output import console, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from mloop.llm.secrets import SecretStore

app = typer.Typer(
    help="Store provider keys encrypted (MLOOP_SECRET_KEY or MLOOP_HOME/secret.key).",
    no_args_is_help=True,
)

T = TypeVar("T")


def _with_store(fn: Callable[[SecretStore], T]) -> T:
    from mloop.core.config import get_settings
    from mloop.llm.secrets import SecretStore
    from mloop.store.runtime import open_runtime

    runtime = open_runtime(get_settings())
    try:
        return fn(SecretStore(runtime))
    finally:
        runtime.close()


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True)
        return value
    # Piped: `printenv OPENAI_API_KEY | mloop gateway secrets set openai-key`. Only the line
    # break a pipe adds is removed; a key's own characters are kept as given.
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The secret's name, e.g. openai-key.")],
) -> None:
    """Store a secret, read from a hidden prompt or stdin (never from the command line)."""
    from mloop.llm.secrets import check_secret_name

    check_secret_name(name)  # before asking for a value that could not be stored
    value = _read_value(name)
    created = _with_store(lambda store: store.set(name, value))
    verb = "Stored" if created else "Replaced"
    console().print(f"{verb} secret [bold]{escape(name)}[/bold].")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List secrets: names and times only, never values."""
    secrets = _with_store(lambda store: store.list())
    if as_json:
        print_json(
            [
                {"name": s.name, "created_at": s.creation_time, "updated_at": s.last_update_time}
                for s in secrets
            ]
        )
        return
    print_table(
        "Gateway secrets",
        ["name", "created", "updated"],
        [(s.name, fmt_time(s.creation_time), fmt_time(s.last_update_time)) for s in secrets],
    )


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="The secret's name.")]) -> None:
    """Delete a secret; providers configured with it fail to start until it is set again."""
    _with_store(lambda store: store.delete(name))
    console().print(f"Deleted secret [bold]{escape(name)}[/bold].")
