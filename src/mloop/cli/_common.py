"""Helpers the commands share: the SDK client and name-or-id lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mloop.core.errors import NotFoundError

if TYPE_CHECKING:
    from mloop.client import Client
    from mloop.tracking.schemas import Experiment


def get_client() -> Client:
    """The SDK client for the tracking URI in effect (server or embedded store)."""
    from mloop.client import Client

    return Client()


def resolve_experiment(client: Client, id_or_name: str) -> Experiment:
    """The experiment with this id or, failing that, this name."""
    if id_or_name.isdigit():
        try:
            return client.get_experiment(id_or_name)
        except NotFoundError:
            pass
    try:
        return client.get_experiment_by_name(id_or_name)
    except NotFoundError:
        raise NotFoundError(
            f"no experiment with id or name {id_or_name!r}", field="experiment"
        ) from None


def confirmed(question: str) -> bool:
    """The answer to ``question`` on the terminal; no answer (no terminal) is no."""
    import typer

    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:  # end of input: end the prompt's line too
        typer.echo(err=True)
        return False
