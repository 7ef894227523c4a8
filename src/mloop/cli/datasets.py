"""``mloop datasets``: register, inspect and alias dataset versions; set registration policies.

``mloop datasets register`` exits 1 when the data fails its contract (or the dataset's
required policy), after printing the validation report, so a CI job can gate on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mloop.cli._common import get_client
from mloop.cli._output import (
    console,
    err_console,
    fail,
    fmt_size,
    fmt_time,
    info,
    print_json,
    print_mapping,
    print_table,
)
from mloop.core.errors import DataContractError

if TYPE_CHECKING:
    from mloop.client import Client
    from mloop.datasets.schemas import Dataset, DatasetVersion

app = typer.Typer(
    help="Versioned datasets: register, list, show, alias; set contract policies.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_PAGE = 1000


def _all_datasets(client: Client) -> list[Dataset]:
    items: list[Dataset] = []
    token: str | None = None
    while True:
        page = client.list_datasets(max_results=_PAGE, page_token=token)
        items.extend(page)
        token = page.next_page_token
        if not token:
            return items


def _all_versions(client: Client, name: str) -> list[DatasetVersion]:
    items: list[DatasetVersion] = []
    token: str | None = None
    while True:
        page = client.list_dataset_versions(name, max_results=_PAGE, page_token=token)
        items.extend(page)
        token = page.next_page_token
        if not token:
            return items


def _validation_cell(version: DatasetVersion) -> str:
    v = version.latest_validation
    if v is None:
        return "-"
    verdict = "passed" if v.passed else f"FAILED ({v.errors} errors)"
    return f"{v.contract_name} v{v.contract_version}: {verdict}"


def version_row(v: DatasetVersion) -> tuple[Any, ...]:
    return (
        v.version,
        ", ".join(v.aliases) or "-",
        f"{v.row_count:,}",
        fmt_size(v.size),
        v.digest[:12],
        v.run_id or "-",
        fmt_time(v.creation_time),
        _validation_cell(v),
    )


_VERSION_COLUMNS = ["version", "aliases", "rows", "size", "digest", "run id", "created", "contract"]


@app.command("list")
def list_datasets(as_json: JsonOption = False) -> None:
    """List datasets with their newest version, row count, aliases and policy."""
    datasets = _all_datasets(get_client())
    if as_json:
        print_json([d.model_dump(mode="json") for d in datasets])
        return
    print_table(
        "Datasets",
        ["name", "latest version", "rows", "size", "aliases", "policy", "updated"],
        [
            (
                d.name,
                d.latest_version,
                f"{d.latest.row_count:,}" if d.latest else "-",
                fmt_size(d.latest.size) if d.latest else "-",
                ", ".join(f"{a}→v{v}" for a, v in sorted(d.aliases.items())) or "-",
                (
                    f"{d.policy.contract_name} ({'required' if d.policy.required else 'optional'})"
                    if d.policy
                    else "-"
                ),
                fmt_time(d.last_update_time),
            )
            for d in datasets
        ],
    )


@app.command("versions")
def list_versions(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    as_json: JsonOption = False,
) -> None:
    """List the versions of a dataset, newest first."""
    client = get_client()
    client.get_dataset(name)  # an unknown name is an error, not an empty table
    versions = _all_versions(client, name)
    if as_json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    print_table(f"Versions of {name}", _VERSION_COLUMNS, [version_row(v) for v in versions])


def _profile_rows(profile: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for c in profile.get("columns", []):
        count = c.get("count") or 0
        nulls = c.get("null_count") or 0
        total = count + nulls
        share = f"{nulls / total:.1%}" if total else "-"
        top = c.get("top") or []
        rows.append(
            (
                c.get("name"),
                c.get("type"),
                f"{nulls:,} ({share})",
                c.get("distinct"),
                c.get("min"),
                c.get("max"),
                c.get("mean"),
                ", ".join(f"{v} ({n})" for v, n in top[:3]) or "-",
            )
        )
    return rows


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (newest version), NAME/VERSION or NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """Show a dataset version: schema, rows, profile summary, aliases, lineage, validations."""
    from mloop.client.datasets_fluent import resolve_version

    client = get_client()
    version = resolve_version(client, ref)
    dataset = client.get_dataset(version.name)
    lineage = client.get_dataset_lineage(version.name, version.version)
    validations = list(client.list_dataset_validations(version.name, version.version))
    history = client.get_dataset_alias_history(version.name)
    if as_json:
        print_json(
            {
                "dataset": dataset.model_dump(mode="json", exclude={"latest"}),
                "version": version.model_dump(mode="json"),
                "lineage": lineage.model_dump(mode="json"),
                "validations": [v.model_dump(mode="json") for v in validations],
                "alias_history": [h.model_dump(mode="json") for h in history],
            }
        )
        return
    print_mapping(
        f"Dataset {version.name} version {version.version}",
        {
            "description": dataset.description or "",
            "rows": f"{version.row_count:,}",
            "size": fmt_size(version.size),
            "digest (sha256)": version.digest,
            "source": version.source or "-",
            "aliases": ", ".join(version.aliases) or "-",
            "registered": f"{fmt_time(version.creation_time)} by {version.created_by}",
            "produced by run": lineage.producer.run_id if lineage.producer else "-",
            "policy": (
                f"{dataset.policy.contract_name} v{dataset.policy.contract_version} "
                f"({'required' if dataset.policy.required else 'optional'})"
                if dataset.policy
                else "-"
            ),
        },
        key="field",
        sort=False,
    )
    print_table(
        "Schema",
        ["column", "type", "nullable"],
        [(f.name, f.type, f.nullable) for f in version.dataset_schema],
    )
    if version.profile:
        print_table(
            "Profile",
            ["column", "type", "nulls", "distinct", "min", "max", "mean", "top values"],
            _profile_rows(version.profile),
        )
    if validations:
        print_table(
            "Validations",
            ["id", "contract", "version", "result", "errors", "warnings", "when"],
            [
                (
                    v.id,
                    v.contract_name,
                    v.contract_version,
                    "passed" if v.passed else "FAILED",
                    v.errors,
                    v.warnings,
                    fmt_time(v.created_time),
                )
                for v in validations[:10]
            ],
        )
    else:
        console().print("[dim]Validations: none[/dim]")
    if lineage.read_by:
        print_table(
            "Read by runs",
            ["run id", "name", "status", "context", "start"],
            [
                (r.run_id, r.run_name, r.status, ", ".join(r.contexts), fmt_time(r.start_time))
                for r in lineage.read_by
            ],
        )
    else:
        console().print("[dim]Read by runs: none[/dim]")
    if history:
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


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    data: Annotated[
        str, typer.Argument(help="A Parquet or CSV file or directory, or a URL (s3://...).")
    ],
    contract: Annotated[
        Path | None,
        typer.Option("--contract", "-c", help="A data contract (YAML) the data must pass."),
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Point this alias at it.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="The dataset's description.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the data came from (default: DATA).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register DATA as a new version of dataset NAME (or find the version holding it).

    The data is converted to Parquet, profiled and checked against --contract and the
    dataset's policy before anything is uploaded. Exit status 1 when a check fails.
    """
    import mloop

    if contract is not None and not contract.is_file():
        fail(f"no such contract file: {contract}", "contract")
    try:
        with err_console().status(f"Registering {escape(data)} as {escape(name)}..."):
            version = mloop.register_dataset(
                name, data, contract=contract, alias=alias, description=description, source=source
            )
    except DataContractError as exc:
        if exc.report is not None:
            console().print(exc.report.to_text(), markup=False, highlight=False)
        fail(exc.message, exc.field)
    if as_json:
        body = version.info.model_dump(mode="json", exclude={"profile"})
        body["created"] = version.created
        print_json(body)
        return
    verb = "Registered" if version.created else "Already registered:"
    info(
        f"{verb} {version.name} version {version.version}: {version.row_count:,} rows, "
        f"{fmt_size(version.size)}"
    )
    console().print(
        f"{escape(version.name)}/{version.version} {version.digest[:12]} "
        f"{'created' if version.created else 'unchanged'}"
    )


@app.command("alias")
def alias_command(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. golden-test.")],
    version: Annotated[
        int | None, typer.Argument(min=1, help="The version the alias points at.")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
) -> None:
    """Point ALIAS of dataset NAME at VERSION (moving it), or remove it with --delete."""
    client = get_client()
    if delete:
        if version is not None:
            fail("give either VERSION or --delete, not both", "version")
        client.delete_dataset_alias(name, alias)
        console().print(f"Deleted alias {escape(name)}@{escape(alias)}")
        return
    if version is None:
        fail("give the VERSION the alias points at (or --delete)", "version")
    client.set_dataset_alias(name, alias, version)
    console().print(f"{escape(name)}@{escape(alias)} → version {version}")


@app.command("policy")
def policy(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    contract: Annotated[
        Path | None,
        typer.Option("--contract", "-c", help="The contract (YAML) new versions must pass."),
    ] = None,
    optional: Annotated[
        bool,
        typer.Option(
            "--optional", help="Check and record, but register versions that fail anyway."
        ),
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the policy.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Set (--contract), remove (--remove) or show the contract policy of dataset NAME."""
    import mloop

    client = get_client()
    if contract is not None and remove:
        fail("give either --contract or --remove, not both", "contract")
    if contract is not None:
        if not contract.is_file():
            fail(f"no such contract file: {contract}", "contract")
        dataset = mloop.set_dataset_policy(name, contract, required=not optional)
    elif remove:
        dataset = client.delete_dataset_policy(name)
    else:
        dataset = client.get_dataset(name)
    p = dataset.policy
    if as_json:
        print_json(p.model_dump(mode="json") if p else None)
        return
    if p is None:
        console().print(f"Dataset {escape(name)} has no policy")
        return
    console().print(
        f"Dataset {escape(name)}: new versions are checked against contract "
        f"{escape(p.contract_name)} v{escape(p.contract_version)} "
        f"({'required' if p.required else 'optional'}; digest {p.contract_digest[:12]})"
    )
