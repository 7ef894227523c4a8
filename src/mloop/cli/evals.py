"""``mloop gate``, ``mloop test models`` and ``mloop evals``: evaluation gates for any CI.

``mloop gate`` exits 0 when the candidate passes, 1 when the gate fails and 2 on usage
errors (a bad URI, an unknown suite or model), so a CI step can tell them apart.
``mloop test models`` exits 1 when any behavioural check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._common import get_client
from mloop.cli._output import cell, console, fail, fmt_time, print_json, print_table
from mloop.core.errors import MloopError

app = typer.Typer(
    help="Evaluation suites and gate decisions.",
    no_args_is_help=True,
)
test_app = typer.Typer(help="Behavioural tests.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TrustedOption = Annotated[
    bool, typer.Option("--trusted", help="Allow models whose loading runs code (pickle, pyfunc).")
]
PathOption = Annotated[
    Path | None,
    typer.Option("--path", help="A folder put on sys.path first (where checks/scorers live)."),
]


def _on_path(path: Path | None) -> None:
    folder = str((path or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _verdict(value: bool | None) -> str:
    return {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "-"}[value]


def print_decision(decision: Any) -> None:
    """The decision as Rich tables: the verdict, the primary test, metrics, slices."""
    out = console()
    colour = "green" if decision.passed else "red"
    champion = decision.champion.uri if decision.champion else "(none)"
    out.print(
        f"[bold {colour}]{decision.outcome.upper()}[/bold {colour}]  gate {decision.id}: "
        f"{decision.candidate.uri} vs {champion} on {decision.suite}/{decision.suite_version} "
        f"({decision.n_rows} rows)"
    )
    p = decision.primary
    test = (
        f"McNemar p={_num(p.p_value)}"
        if p.method == "mcnemar"
        else f"{p.confidence:.0%} CI [{_num(p.ci_low)}, {_num(p.ci_high)}]"
    )
    rows = [
        [
            f"{p.metric} (primary)",
            _num(p.candidate),
            _num(p.champion),
            _num(p.difference),
            f"margin {p.margin:g}; {test}",
        ]
    ]
    rows += [
        [
            m.metric,
            _num(m.candidate),
            _num(m.champion),
            _num(m.difference),
            f"tolerance {m.tolerance:g} {_verdict(m.passed)}" if m.tolerance is not None else "",
        ]
        for m in decision.metrics
    ]
    print_table(None, ["metric", "candidate", "champion", "improvement", "rule"], rows)
    if decision.slices:
        print_table(
            "slices",
            ["slice", "rows", "metric", "candidate", "champion", "improvement", "verdict"],
            [
                [
                    s.name,
                    s.rows,
                    s.metric,
                    _num(s.candidate),
                    _num(s.champion),
                    _num(s.difference),
                    _verdict(s.passed) if s.rows else s.note,
                ]
                for s in decision.slices
            ],
        )
    for check in [*decision.fairness, *decision.budgets]:
        label = f"{check.metric} by {check.column}" if hasattr(check, "metric") else check.name
        limit = check.bound if hasattr(check, "bound") else check.limit
        out.print(f"{label}: {_num(check.candidate)} (limit {limit:g}) {_verdict(check.passed)}")
    for reason in decision.reasons:
        out.print(f"- {reason}")


def gate_command(
    candidate: Annotated[str, typer.Option("--candidate", help="models:/name/7")],
    suite: Annotated[str, typer.Option("--suite", help="Suite name, or name/version.")],
    champion: Annotated[
        str | None, typer.Option("--champion", help="models:/name@champion (none: no champion)")
    ] = None,
    trusted: TrustedOption = False,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Gate a candidate against the champion; exit 1 when it fails, 2 on usage errors."""
    from mloop.evals.sdk import gate

    _on_path(path)
    try:
        decision = gate(candidate, champion, suite, trusted=trusted, client=get_client())
    except MloopError as exc:
        fail(exc.message, exc.field, code=2)
    if as_json:
        print_json(decision.model_dump(mode="json"))
    else:
        print_decision(decision)
    raise typer.Exit(0 if decision.passed else 1)


@test_app.command("models")
def test_models(
    model: Annotated[str, typer.Argument(help="models:/name/7")],
    checks: Annotated[str, typer.Option("--checks", help="module:NAME of a list of checks")],
    trusted: TrustedOption = False,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model's behavioural tests; exit 1 when any fails."""
    from mloop.evals.behaviour import load_checks, test_model

    _on_path(path)
    try:
        found = load_checks(checks)
        report = test_model(model, found, trusted=trusted, client=get_client())
    except MloopError as exc:
        fail(exc.message, exc.field, code=2)
    if as_json:
        print_json(
            {
                "model": report.model,
                "run_id": report.run_id,
                "passed": report.passed,
                "results": [vars(r) for r in report.results],
            }
        )
    else:
        print_table(
            f"behavioural tests of {report.model} (run {report.run_id})",
            ["check", "kind", "rows", "failures", "verdict", "detail"],
            [
                [r.name, r.kind, r.rows, r.failures, _verdict(r.passed), r.detail]
                for r in report.results
            ],
        )
    raise typer.Exit(0 if report.passed else 1)


@app.command("suites")
def list_suites(as_json: JsonOption = False) -> None:
    """Registered suites and their newest versions."""
    suites = get_client().call("list_eval_suites", max_results=1000).suites
    if as_json:
        print_json([s.model_dump() for s in suites])
        return
    print_table(
        "eval suites",
        ["name", "latest version", "updated", "description"],
        [
            [s.name, cell(s.latest_version), fmt_time(s.last_update_time), s.description]
            for s in suites
        ],
    )


@app.command("show")
def show_suite(
    suite: Annotated[str, typer.Argument(help="Suite name, or name/version.")],
    as_json: JsonOption = False,
) -> None:
    """One suite version's spec."""
    from mloop.evals.sdk import get_suite

    found = get_suite(suite, client=get_client())
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    console().print(f"[bold]{found.name}/{found.version}[/bold]  digest {found.digest[:12]}")
    print_json(found.spec.model_dump(mode="json"))


@app.command("decisions")
def list_decisions(
    model: Annotated[
        str | None, typer.Option("--model", help="Candidate or champion name.")
    ] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Suite name.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Gate decisions, newest first."""
    found = get_client().call("list_gate_decisions", model=model, suite=suite, max_results=100)
    if as_json:
        print_json([d.model_dump(mode="json") for d in found.decisions])
        return
    print_table(
        "gate decisions",
        ["id", "outcome", "candidate", "champion", "suite", "primary +", "when"],
        [
            [
                d.id,
                d.outcome,
                d.candidate.uri,
                d.champion.uri if d.champion else "-",
                f"{d.suite}/{d.suite_version}",
                _num(d.primary.difference),
                fmt_time(d.created_at),
            ]
            for d in found.decisions
        ],
    )


@app.command("decision")
def show_decision(
    decision_id: Annotated[int, typer.Argument(help="Gate decision id.")],
    as_json: JsonOption = False,
) -> None:
    """One gate decision with every number and reason."""
    found = get_client().call("get_gate_decision", id=decision_id)
    if as_json:
        print_json(found.model_dump(mode="json"))
    else:
        print_decision(found)
