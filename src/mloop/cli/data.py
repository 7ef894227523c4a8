"""``mloop data``: validate a table against a data contract, or profile it, from any shell or CI.

``mloop data validate`` exits 1 when a check of severity ``error`` fails, so a CI job can gate
on it; ``--json`` and ``--junit`` write machine-readable reports next to the readable one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mloop.cli._output import cell, console, err_console, fail, fmt_number, info, print_json
from mloop.core.errors import MloopError

if TYPE_CHECKING:
    from mloop.data import CheckResult, DatasetProfile, ValidationReport

app = typer.Typer(help="Validate data against contracts and profile it.", no_args_is_help=True)

_STATUS_STYLE = {"passed": "green", "failed": "red", "error": "red", "skipped": "dim"}
_MAX_EXAMPLE_CHARS = 160
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="DuckDB's memory limit, e.g. 500MB (default 1GB); beyond it, DuckDB spills to "
        "disk. It bounds DuckDB's own memory, not the whole process.",
    ),
]


def _status(result: CheckResult) -> str:
    label = result.status.upper() if result.status != "passed" else "pass"
    if not result.passed and result.severity == "warn":
        return "[yellow]WARN[/yellow]"
    return f"[{_STATUS_STYLE[result.status]}]{label}[/]"


def _failing(result: CheckResult) -> str:
    if result.failing_count is None:
        return ""
    share = "" if result.failing_share is None else f" ({result.failing_share:.2%})"
    return f"{result.failing_count:,}{share}"


def _example(row: dict[str, Any]) -> str:
    text = ", ".join(f"{key}={value!r}" for key, value in row.items())
    return text if len(text) <= _MAX_EXAMPLE_CHARS else text[: _MAX_EXAMPLE_CHARS - 1] + "…"


def print_report(report: ValidationReport, *, examples: int = 3) -> None:
    """The report as a Rich table, failing examples under it; a verdict line last."""
    out = console()
    rows = "?" if report.row_count is None else f"{report.row_count:,}"
    table = Table(
        title=f"Contract {escape(report.contract)} v{report.contract_version} on "
        f"{escape(report.source)} ({rows} rows, {report.duration_s:.2f} s)",
        title_justify="left",
    )
    for column in ("check", "kind", "column", "severity", "result", "failing", "detail"):
        table.add_column(column, overflow="fold")
    for result in report.checks:
        table.add_row(
            escape(result.name),
            result.kind,
            escape(", ".join(result.columns)),
            result.severity,
            _status(result),
            _failing(result),
            escape(result.message),
        )
    out.print(table)
    for result in report.checks:
        if result.passed or not result.examples or examples == 0:
            continue
        out.print(f"[bold]{escape(result.name)}[/bold]: failing rows, e.g.")
        for row in result.examples[:examples]:
            out.print(f"  {escape(_example(row))}")
    counts = report.summary()
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    out.print(
        f"{verdict}: {counts['passed']} passed, {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s), {counts['skipped']} skipped"
    )


def _reference(path: Path | None, memory_limit: str | None) -> DatasetProfile | None:
    """A stored profile (JSON) or a table to profile now."""
    if path is None:
        return None
    from mloop.data import DatasetProfile, profile_dataset

    if path.suffix == ".json":
        try:
            return DatasetProfile.from_json(path.read_bytes())
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    return profile_dataset(path, memory_limit=memory_limit)


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot write the {what} to {path}: {exc.strerror}") from None
    info(f"{what} written to {path}")


@app.command("validate")
def validate_command(
    data: Annotated[
        str,
        typer.Argument(
            help="A Parquet or CSV file or directory, or a URL; with --dataset, a registered "
            "version: name, name/3 or name@alias."
        ),
    ],
    contract: Annotated[
        Path, typer.Option("--contract", "-c", help="The data contract (YAML).", dir_okay=False)
    ],
    dataset: Annotated[
        bool,
        typer.Option(
            "--dataset",
            help="DATA names a registered dataset version: validate it (distribution checks "
            "against the previous version's profile) and store the result with the version.",
        ),
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="What distribution checks compare with: a profile (.json, from `mloop data "
            "profile --json`) or a table to profile now.",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    junit_path: Annotated[
        Path | None, typer.Option("--junit", help="Also write JUnit XML here (for CI).")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, max=100, help="Failing rows shown per check.")
    ] = 3,
    memory_limit: MemoryOption = None,
) -> None:
    """Check DATA against a contract.

    Exit status: 0 when every error-severity check passes, 1 when one fails, 2 when the
    data cannot be validated at all (malformed contract, missing data).
    """
    from mloop.data import load_contract, validate

    if dataset and reference is not None:
        raise typer.BadParameter(
            "--reference cannot be used with --dataset", param_hint="--reference"
        )
    try:
        parsed = load_contract(contract)
        if dataset:
            import mloop

            report = mloop.validate_dataset(data, parsed)
        else:
            report = validate(
                data,
                parsed,
                _reference(reference, memory_limit),
                examples=max(examples, 5),  # the JSON report keeps at least five
                memory_limit=memory_limit,
            )
    except MloopError as exc:
        fail(exc.message, None if exc.message.startswith(str(contract)) else exc.field, code=2)
    print_report(report, examples=examples)
    if json_path is not None:
        _write(json_path, report.to_json(), "JSON report")
    if junit_path is not None:
        _write(junit_path, report.to_junit_xml(), "JUnit report")
    if not report.passed:
        raise typer.Exit(1)


def _profile_rows(
    profile: DatasetProfile,
) -> list[tuple[str, str, str, str, str, str, str, str, str]]:
    rows = []
    for c in profile.columns:
        median = (c.quantiles or {}).get("0.5")
        top = ", ".join(f"{value}" for value, _ in (c.top or [])[:3])
        rows.append(
            (
                c.name,
                c.type,
                f"{c.null_count:,} ({c.null_share:.1%})",
                "" if c.distinct is None else f"~{c.distinct:,}",
                cell(c.min if not isinstance(c.min, float) else fmt_number(c.min)),
                "" if median is None else fmt_number(median),
                cell(c.max if not isinstance(c.max, float) else fmt_number(c.max)),
                "" if c.mean is None else fmt_number(c.mean),
                top,
            )
        )
    return rows


@app.command("profile")
def profile_command(
    data: Annotated[str, typer.Argument(help="A Parquet or CSV file or directory, or a URL.")],
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the full profile as JSON here (a --reference)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--print-json", help="Print JSON, not a table.")] = (
        False
    ),
    memory_limit: MemoryOption = None,
) -> None:
    """Per-column statistics of DATA: nulls, distinct values, range, quantiles, top values."""
    from mloop.data import profile_dataset

    profile = profile_dataset(data, memory_limit=memory_limit)
    if json_path is not None:
        _write(json_path, profile.to_json(), "profile")
    if as_json:
        print_json(json.loads(profile.to_json()))
        return
    table = Table(
        title=f"{escape(profile.source)}: {profile.row_count:,} rows, "
        f"{len(profile.columns)} columns ({profile.duration_s:.2f} s)",
        title_justify="left",
    )
    for column in ("column", "type", "nulls", "distinct", "min", "median", "max", "mean", "top"):
        table.add_column(column, overflow="fold")
    for row in _profile_rows(profile):
        table.add_row(*(escape(str(v)) for v in row))
    console().print(table)
    if not profile.columns:
        err_console().print("the data has no columns")
