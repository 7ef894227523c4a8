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
RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="The feature repository whose Python transformations run (default: "
        "$MLOOP_FEATURE_REPO).",
    ),
]


def _use_repo(repo: Path | None) -> None:
    """Make the repository's modules importable: Python transformations and on-demand
    features are imported by reference."""
    from mloop.features.repo import use_repo, use_repo_from_env

    if repo is not None:
        use_repo(repo)
    else:
        use_repo_from_env()


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


@app.command("materialize")
def materialize_command(
    views: Annotated[
        list[str] | None, typer.Argument(help="Feature views (default: every online one).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Earliest event time: 2026-05-28, now-7d.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Event times before it (now).")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything, not from the watermarks.")
    ] = False,
    repo: RepoOption = None,
    json_out: JsonOption = False,
) -> None:
    """Copy feature views' rows from their sources into the online store (incremental:
    from each view's watermark)."""
    import datetime as dt

    from rich.progress import BarColumn, Progress, TextColumn

    from mloop.cli.monitors._parse import parse_time
    from mloop.features.online.feature_store import FeatureStore

    _use_repo(repo)

    def when(text: str | None, option: str) -> dt.datetime | None:
        if text is None:
            return None
        return dt.datetime.fromtimestamp(parse_time(text, option) / 1000, dt.UTC)

    with (
        FeatureStore(client=get_client()) as store,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]} rows"),
            console=console(),
            transient=json_out,
            disable=json_out,
        ) as bar,
    ):
        tasks: dict[str, Any] = {}

        def progress(event: Any) -> None:
            task = tasks.get(event.view)
            if task is None:
                task = tasks[event.view] = bar.add_task(event.view, total=None, rows=0)
            bar.update(task, rows=event.rows_written)
            if event.done:
                bar.update(task, total=1, completed=1)

        done = store.materialize(
            views or None,
            start=when(start, "--start"),
            end=when(end, "--end"),
            incremental=not full,
            progress=progress,
        )
    if json_out:
        print_json(
            [
                {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in vars(m).items()}
                for m in done
            ]
        )
        return
    print_table(
        None,
        ["view", "version", "how", "rows read", "rows written", "watermark", "seconds"],
        [
            (
                m.view,
                f"v{m.version}",
                "full" if m.full else "incremental",
                m.rows_read,
                m.rows_written,
                "" if m.watermark is None else m.watermark.isoformat(),
                f"{m.seconds:.2f}",
            )
            for m in done
        ],
    )


@app.command("profile")
def profile_command(
    view: Annotated[str, typer.Argument(help="A feature view.")],
    repo: RepoOption = None,
) -> None:
    """Compute the statistics of a view's rows (shown on its page in the UI)."""
    from mloop.features.profiles import profile_view

    _use_repo(repo)
    found = profile_view(view, client=get_client())
    info(f"Profiled {found.rows} rows of feature view {view} (version {found.version}).")


@app.command("skew-check")
def skew_check_command(
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose served features to check.")],
    since: Annotated[str, typer.Option("--since", help="From: 2026-05-28, now-1h.")] = "now-1h",
    until: Annotated[str, typer.Option("--until", help="Until (excluded).")] = "now",
    service: Annotated[
        str | None,
        typer.Option("--service", help="The feature service (default: the live model's)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Relative difference numbers may have.")
    ] = 1e-6,
    fail_above: Annotated[
        float | None,
        typer.Option("--fail-above", help="Exit 3 when more than this share of rows differ."),
    ] = None,
    repo: RepoOption = None,
    json_out: JsonOption = False,
) -> None:
    """Recompute the features an endpoint served offline and report mismatches."""
    from mloop.cli.monitors._parse import parse_time
    from mloop.features.skew import check_skew

    _use_repo(repo)
    report = check_skew(
        endpoint,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        service=service,
        tolerance=tolerance,
    )
    if json_out:
        print_json(report.to_dict())
    else:
        info(
            f"{report.rows} served rows of {endpoint} (feature service {report.service}); "
            f"{report.rows_with_mismatch} ({report.rate:.2%}) differ from offline retrieval."
        )
        print_table(
            None,
            ["feature", "mismatches", "rate", "served null", "offline null", "example"],
            [
                (
                    f.feature,
                    f.mismatches,
                    f"{f.rate:.2%}",
                    f.served_missing,
                    f.offline_missing,
                    _example(f.examples),
                )
                for f in report.features
            ],
        )
    if fail_above is not None and report.rate > fail_above:
        raise typer.Exit(3)


def _example(examples: list[dict[str, Any]]) -> str:
    if not examples:
        return ""
    first = examples[0]
    return f"{first['request_id']}: served {first['served']!r}, offline {first['offline']!r}"
