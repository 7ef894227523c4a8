"""``mloop models`` and ``mloop alias``: the model registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from mloop.cli._common import get_client
from mloop.cli._output import console, fmt_time, print_json, print_mapping, print_table

app = typer.Typer(help="List and inspect registered models.", no_args_is_help=True)
if TYPE_CHECKING:
    from mloop.client.registry_client import PagedList
    from mloop.registry.schemas import AliasHistoryEntry, ModelVersion, RegisteredModel

alias_app = typer.Typer(
    help="Point an alias (champion, production...) at a model version.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
T = TypeVar("T")
_PAGE = 1000


def _all_pages(fetch: Callable[[str | None], PagedList[T]]) -> list[T]:
    """Every item of a paged listing, following ``next_page_token``."""
    items: list[T] = []
    token: str | None = None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.next_page_token
        if not token:
            return items


def _aliases_by_version(aliases: dict[str, int]) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = {}
    for alias, version in sorted(aliases.items()):
        by_version.setdefault(int(version), []).append(alias)
    return by_version


def model_dict(model: RegisteredModel) -> dict[str, Any]:
    """The stable JSON shape of a registered model."""
    return {
        "name": model.name,
        "description": model.description,
        "creation_time": model.creation_time,
        "last_update_time": model.last_update_time,
        "latest_version": model.latest_version,
        "aliases": dict(model.aliases),
        "tags": dict(model.tags),
    }


def version_dict(version: ModelVersion) -> dict[str, Any]:
    """The stable JSON shape of a model version."""
    return {
        "name": version.name,
        "version": version.version,
        "run_id": version.run_id,
        "source": version.source,
        "flavor": version.flavor,
        "status": version.status,
        "sha256": version.sha256,
        "creation_time": version.creation_time,
        "user_id": version.user_id,
        "description": version.description,
        "aliases": list(version.aliases),
        "metrics": dict(version.metrics),
        "tags": dict(version.tags),
        "training_data": [dict(d) for d in version.training_data],
    }


def history_dict(entry: AliasHistoryEntry) -> dict[str, Any]:
    """The stable JSON shape of one alias move."""
    return {
        "alias": entry.alias,
        "from_version": entry.from_version,
        "to_version": entry.to_version,
        "actor": entry.actor,
        "timestamp": entry.timestamp,
    }


def _training_data(version: ModelVersion) -> str:
    """The dataset versions a model version was trained on, with the contract each passed."""
    parts = []
    for d in version.training_data:
        text = f"{d.get('name')}/{d.get('version')}"
        if d.get("contract_name"):
            text += f" ({d['contract_name']} v{d.get('contract_version')})"
        parts.append(text)
    return ", ".join(parts) or "-"


@app.command("list")
def list_models(as_json: JsonOption = False) -> None:
    """List registered models with their latest version and aliases."""
    client = get_client()
    models = _all_pages(
        lambda token: client.list_registered_models(max_results=_PAGE, page_token=token)
    )
    if as_json:
        print_json([model_dict(m) for m in models])
        return
    print_table(
        "Registered models",
        ["name", "latest version", "aliases", "updated", "description"],
        [
            (
                m.name,
                m.latest_version,
                ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items())) or "-",
                fmt_time(m.last_update_time),
                m.description or "",
            )
            for m in models
        ],
    )


@app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    as_json: JsonOption = False,
) -> None:
    """Show a model: its versions, aliases and the history of alias moves."""
    client = get_client()
    model = client.get_registered_model(name)
    versions = _all_pages(
        lambda token: client.list_model_versions(name, max_results=_PAGE, page_token=token)
    )
    history = client.get_alias_history(name)
    if as_json:
        body = model_dict(model)
        body["versions"] = [version_dict(v) for v in versions]
        body["alias_history"] = [history_dict(h) for h in history]
        print_json(body)
        return
    print_mapping(
        f"Model {model.name}",
        {
            "name": model.name,
            "description": model.description or "",
            "latest version": model.latest_version,
            "created": fmt_time(model.creation_time),
            "updated": fmt_time(model.last_update_time),
        },
        key="field",
        sort=False,
    )
    print_mapping("Tags", model.tags)
    by_version = _aliases_by_version(model.aliases)
    print_table(
        "Versions",
        ["version", "aliases", "status", "flavor", "run id", "created", "sha256", "data"],
        [
            (
                v.version,
                ", ".join(by_version.get(int(v.version), [])) or "-",
                v.status,
                v.flavor,
                v.run_id,
                fmt_time(v.creation_time),
                (v.sha256 or "")[:12],
                _training_data(v),
            )
            for v in versions
        ],
    )
    print_mapping("Aliases", {a: f"v{v}" for a, v in model.aliases.items()}, key="alias")
    if not history:
        console().print("[dim]Alias history: none[/dim]")
        return
    print_table(
        "Alias history",
        ["when", "alias", "from", "to", "by"],
        [
            (
                fmt_time(h.timestamp),
                h.alias,
                f"v{h.from_version}" if h.from_version is not None else "-",
                f"v{h.to_version}" if h.to_version is not None else "(deleted)",
                h.actor,
            )
            for h in history
        ],
    )


@alias_app.command("set")
def set_alias(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: Annotated[int, typer.Argument(min=1, help="Model version the alias points at.")],
) -> None:
    """Point ALIAS of model NAME at VERSION (moving it if it points elsewhere)."""
    get_client().set_alias(name, alias, version)
    console().print(f"{escape(name)}@{escape(alias)} → version {version}")


@alias_app.command("delete")
def delete_alias(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
) -> None:
    """Remove ALIAS from model NAME (the versions are kept)."""
    get_client().delete_alias(name, alias)
    console().print(f"Deleted alias {escape(name)}@{escape(alias)}")
