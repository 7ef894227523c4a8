"""``mloop features``: register a folder of feature definitions (with a plan first), and
read what is registered."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import console, fmt_time, info, print_json, print_table

app = typer.Typer(
    help="The feature store: definitions applied from a folder of Python, their versions.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class Kind(StrEnum):
    entity = "entity"
    source = "source"
    feature_view = "feature_view"
    on_demand = "on_demand"
    feature_service = "feature_service"


_MARKS = {"add": "+", "change": "~", "remove": "-", "unchanged": " "}


def _plan_rows(plan: list[Any], *, all_rows: bool) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for entry in plan:
        if entry.action == "unchanged" and not all_rows:
            continue
        changes = "; ".join(entry.changes)
        if entry.breaking:
            changes = f"BREAKS a feature service in use; {changes}"
        version = "" if entry.version is None else f"v{entry.version}"
        rows.append((_MARKS[entry.action], entry.kind, entry.name, version, changes))
    return rows


@app.command("apply")
def apply_command(
    path: Annotated[Path, typer.Argument(help="A folder of .py files defining features.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove registered definitions the folder lacks.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Apply changes that break a service a deployed model uses."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Register the folder's definitions: new ones, and a new version of each changed one."""
    from mloop.features.applying import apply

    result = apply(path, prune=prune, dry_run=dry_run, force=force, client=get_client())
    if json_out:
        print_json(result.model_dump())
        return
    rows = _plan_rows(result.plan, all_rows=False)
    same = sum(1 for e in result.plan if e.action == "unchanged")
    if rows:
        title = "Plan (not applied: --dry-run)" if not result.applied else "Applied"
        print_table(title, ["", "kind", "name", "version", "changes"], rows)
    counts = {a: sum(1 for e in result.plan if e.action == a) for a in ("add", "change", "remove")}
    verb = "would" if not result.applied else "did"
    info(
        f"{counts['add']} to add, {counts['change']} to change, {counts['remove']} to remove, "
        f"{same} unchanged ({verb} apply)."
    )


@app.command("list")
def list_command(
    kind: Annotated[Kind | None, typer.Option("--kind", "-k", help="Only this kind.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Registered definitions at their newest versions."""
    client = get_client()
    found = client.call("list_definitions", kind=None if kind is None else kind.value)
    if json_out:
        print_json([d.model_dump() for d in found.definitions])
        return
    rows = [
        (d.kind, d.name, f"v{d.version}", _summary(d), d.created_by, fmt_time(d.creation_time))
        for d in found.definitions
    ]
    print_table(None, ["kind", "name", "version", "what", "by", "registered"], rows)


def _summary(definition: Any) -> str:
    spec = definition.spec
    if definition.kind == "entity":
        return "keys " + ", ".join(spec["join_keys"])
    if definition.kind == "source":
        where = spec.get("path") or spec.get("dataset") or (spec.get("query") or "")[:40]
        return f"{spec['kind']} {where}"
    if definition.kind in ("feature_view", "on_demand"):
        names = [f["name"] for f in spec["features"]]
        more = f" (+{len(names) - 5})" if len(names) > 5 else ""
        return ", ".join(names[:5]) + more
    return f"{len(spec['features'])} references"


@app.command("show")
def show_command(
    kind: Annotated[Kind, typer.Argument(help="What it is.")],
    name: Annotated[str, typer.Argument(help="Its name.")],
    version: Annotated[int | None, typer.Option("--version", "-v", help="A version.")] = None,
    json_out: JsonOption = False,
) -> None:
    """One definition: its specification, and for a feature service the versions it pins."""
    client = get_client()
    found = client.call("get_definition", kind=kind.value, name=name, version=version)
    if json_out:
        print_json(found.model_dump())
        return
    console().print(f"[bold]{found.kind} {found.name}[/bold] v{found.version}")
    print_json(found.spec)
    if found.pinned:
        print_table("Pinned", ["definition", "version"], list(found.pinned.items()))
