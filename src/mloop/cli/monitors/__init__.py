"""``mloop monitors``: monitors of an endpoint's inference log, a dataset by event time or
the LLM gateway's calls against a reference, optionally checking a data contract; their
windows computed on demand or as a backfill (with a progress bar), listed, and read whole.

``mloop monitors run`` exits 3 when ``--fail-on drift``, ``--fail-on contract`` or
``--fail-on alert`` finds what it names in a computed window, so a CI job or a cron entry can
act on it; 1 when a window could not be computed.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli._common import confirmed, get_client
from mloop.cli._output import err_console, info, print_json, warn
from mloop.cli.monitors._parse import fmt_seconds, fmt_utc, parse_time, usage_error
from mloop.cli.monitors._report import print_report
from mloop.cli.monitors._spec import CreateOptions, build_request, read_spec_file
from mloop.cli.monitors._tables import print_monitor, print_monitors, print_windows, watches
from mloop.core.errors import NotFoundError
from mloop.core.timeutil import now_ms

if TYPE_CHECKING:
    from mloop.client import Client
    from mloop.monitoring.schemas import Monitor, WindowSummary

app = typer.Typer(
    help="Monitors: drift, data quality, contract checks, outputs, performance and bias of an "
    "endpoint's traffic, a dataset or the LLM gateway's calls, window by window, against a "
    "reference; backfills, reports, CI checks.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Monitor name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TIME_HELP = "ISO-8601 (UTC without an offset), ms since the epoch, or now-2h."
EXIT_FOUND = 3


class FailOn(StrEnum):
    drift = "drift"
    contract = "contract"
    alert = "alert"


class Target(StrEnum):
    endpoint = "endpoint"
    dataset = "dataset"
    gateway = "gateway"


def _monitor(client: Client, name: str) -> Monitor:
    try:
        monitor: Monitor = client.call("get_monitor", name=name)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc.message}: see `mloop monitors list`", field=exc.field) from None
    return monitor


@app.command("create")
def create(
    name: NameArgument,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "-e", help="The endpoint whose log is watched.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Watch a registered dataset by event time instead: NAME (its newest version "
            "each window) or NAME@VERSION.",
        ),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="With --dataset: the event times.")
    ] = None,
    prediction_column: Annotated[
        str | None,
        typer.Option("--prediction-column", help="With --dataset: a model's scored output."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option("--label-column", help="With --dataset: the true outcomes.")
    ] = None,
    gateway: Annotated[
        bool,
        typer.Option(
            "--gateway",
            help="Watch the LLM gateway's calls instead: all of them, unless --route, "
            "--prompt, --model or --project narrow them.",
        ),
    ] = False,
    route: Annotated[
        str | None, typer.Option("--route", help="The gateway's calls of this route only.")
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="The gateway's calls rendering this registered prompt."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The gateway's calls this model answered.")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="The gateway's calls of this project.")
    ] = None,
    contract: Annotated[
        Path | None,
        typer.Option(
            "--contract",
            metavar="FILE",
            help="Check each window against this YAML data contract (its row-level checks).",
        ),
    ] = None,
    contract_from: Annotated[
        str | None,
        typer.Option(
            "--contract-from",
            metavar="DATASET",
            help="Check each window against this dataset's registration policy contract.",
        ),
    ] = None,
    reference_dataset: Annotated[
        str | None,
        typer.Option(
            "--reference-dataset",
            help="Compare with a registered dataset: NAME (newest), NAME@VERSION or NAME@ALIAS.",
        ),
    ] = None,
    reference_window: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--reference-window",
            metavar="SINCE UNTIL",
            help=f"Compare with this stretch of the watched log. Times: {TIME_HELP}",
        ),
    ] = None,
    rolling: Annotated[
        int | None,
        typer.Option(
            "--rolling", min=1, max=1000, help="Compare each window with the N windows before it."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", "-w", help="Window length: 1h (default), 1d, 30m or seconds."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            "-c",
            help="NAME:KIND (number, category, bool) to watch; repeatable. Default: the live "
            "model's signature; for the gateway, latency, tokens, cost, status, model and "
            "cache (any other name is a key of the calls' metadata).",
        ),
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option("--sensitive", help="An input to audit for bias by group; repeatable."),
    ] = None,
    positive_label: Annotated[
        str | None,
        typer.Option(
            "--positive-label", help="The favourable class of a binary classifier (1, yes...)."
        ),
    ] = None,
    review_threshold: Annotated[
        float | None,
        typer.Option(
            "--review-threshold", help="Confidence below which a prediction counts for review."
        ),
    ] = None,
    no_schedule: Annotated[
        bool,
        typer.Option("--no-schedule", help="Compute windows only when asked (mloop monitors run)."),
    ] = False,
    delay: Annotated[
        int | None,
        typer.Option(
            "--delay", min=0, max=86_400, help="Seconds to wait after a window closes (60)."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            exists=True,
            dir_okay=False,
            help="A YAML or JSON spec with the API's fields; options given override it.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a monitor of an endpoint (or of a dataset by event time, or of the LLM
    gateway's calls) and compute its reference.

    Watch one thing: --endpoint, --dataset with --time-column, or the gateway (--gateway,
    or --route, --prompt, --model, --project to narrow it). Give one reference:
    --reference-dataset, --reference-window or --rolling (a gateway monitor: one of the
    last two). --contract or --contract-from also checks each window against a data contract.
    """
    client = get_client()
    options = CreateOptions(
        endpoint=endpoint,
        dataset=dataset,
        time_column=time_column,
        prediction_column=prediction_column,
        label_column=label_column,
        reference_dataset=reference_dataset,
        reference_window=reference_window,
        rolling=rolling,
        window=window,
        columns=column or [],
        sensitive=sensitive or [],
        positive_label=positive_label,
        review_threshold=review_threshold,
        schedule=False if no_schedule else None,
        delay=delay,
        description=description,
        gateway=gateway,
        route=route,
        prompt=prompt,
        model=model,
        project=project,
        contract=contract,
        contract_from=contract_from,
    )
    file_spec = read_spec_file(from_file) if from_file is not None else {}
    monitor = client.call("create_monitor", **build_request(client, name, file_spec, options))
    if as_json:
        print_json(monitor.model_dump())
        return
    rows = "" if monitor.reference_rows is None else f", reference of {monitor.reference_rows} rows"
    checked = ""
    if monitor.contract is not None:
        checked = f", checking contract {monitor.contract.name} v{monitor.contract.version}"
    info(
        f"Created monitor {monitor.name} of {watches(monitor)}: "
        f"{fmt_seconds(monitor.window_seconds)} windows, {len(monitor.columns or {})} columns"
        f"{rows}{checked}. Backfill with `mloop monitors run {monitor.name} --since TIME`."
    )


@app.command("list")
def list_monitors(
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "-e", help="Only the monitors of this endpoint.")
    ] = None,
    target: Annotated[
        Target | None,
        typer.Option(
            "--target", help="Only the monitors of endpoints, of datasets or of the gateway."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List monitors: what they watch, reference, window, schedule, how far they are computed."""
    client = get_client()
    found: list[Monitor] = []
    token: str | None = None
    while True:
        page = client.call(
            "list_monitors",
            endpoint=endpoint,
            target=None if target is None else target.value,
            max_results=1000,
            page_token=token,
        )
        found += page.monitors
        token = page.next_page_token
        if token is None:
            break
    if as_json:
        print_json([m.model_dump() for m in found])
        return
    print_monitors(found)


@app.command("show")
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """A monitor's specification, reference and watched columns."""
    monitor = _monitor(get_client(), name)
    if as_json:
        print_json(monitor.model_dump())
        return
    print_monitor(monitor)


@app.command("delete")
def delete(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a monitor and its computed windows (alerts it raised stay). Needs admin."""
    client = get_client()
    _monitor(client, name)
    if not yes and not confirmed(f"Delete monitor {name} and its computed windows?"):
        info("Nothing deleted (--yes deletes without asking).")
        raise typer.Exit(1)
    client.call("delete_monitor", name=name)
    info(f"Deleted monitor {name}.")


def _bounds(size_ms: int, since: int, until: int) -> list[tuple[int, int]]:
    """The windows that start in ``[since, until)``, as the server aligns them (to
    multiples of the window since the epoch), oldest first."""
    start = since - since % size_ms
    if start < since:
        start += size_ms
    return [(s, s + size_ms) for s in range(start, until, size_ms)]


def _compute(client: Client, name: str, bounds: list[tuple[int, int]]) -> list[WindowSummary]:
    """Each window by its own call, so that a long backfill shows its progress (and a
    rolling reference sees the windows computed before it, as in one call)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    windows: list[WindowSummary] = []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[window]}[/dim]"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
        disable=len(bounds) < 2,
    )
    with progress:
        task = progress.add_task(f"Computing {name}", total=len(bounds), window="")
        for start, end in bounds:
            progress.update(task, window=fmt_utc(start))
            windows += client.call("run_monitor", name=name, since=start, until=end).windows
            progress.advance(task)
    return windows


@app.command("run")
def run(
    name: NameArgument,
    since: Annotated[
        str | None,
        typer.Option("--since", help=f"Compute the windows that start from here. {TIME_HELP}"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="...and before here (default: the last closed window's end)."),
    ] = None,
    fail_on: Annotated[
        list[FailOn] | None,
        typer.Option(
            "--fail-on",
            help="Exit 3 when a computed window shows dataset drift (drift), failed an "
            "error-severity check of its contract (contract) or raised an alert (alert); "
            "repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compute windows now: the last closed one, or a backfill from --since.

    A backfill computes each window starting in [--since, --until), again if it was
    computed before, with a progress bar. --until defaults to the end of the last closed
    window, --since to one window before --until.

    Exit status: 3 when --fail-on finds what it names, 1 when a window could not be
    computed, else 0.
    """
    since_ms = None if since is None else parse_time(since, "--since")
    until_ms = None if until is None else parse_time(until, "--until")
    client = get_client()
    checks = set(fail_on or [])
    if FailOn.contract in checks and _monitor(client, name).contract is None:
        # A gate that cannot fail would pass every build unnoticed.
        usage_error(
            f"--fail-on contract: monitor {name} checks no data contract (create one with "
            "--contract FILE or --contract-from DATASET)",
            "--fail-on",
        )
    if since_ms is None and until_ms is None:
        windows = client.call("run_monitor", name=name).windows
    else:
        monitor = _monitor(client, name)
        size = monitor.window_seconds * 1000
        # By default up to the last closed window (past the delay for late events): a
        # window still open would be computed on part of its traffic.
        closed = now_ms() - monitor.delay_seconds * 1000
        last = until_ms if until_ms is not None else closed - closed % size
        first = since_ms if since_ms is not None else last - size
        if last <= first:
            option = "--until" if until is not None else "--since"
            usage_error(f"{option}: {fmt_utc(last)} is not after {fmt_utc(first)}", option)
        bounds = _bounds(size, first, last)
        if not bounds:
            step = fmt_seconds(size // 1000)
            usage_error(
                f"--since: no window starts between {fmt_utc(first)} and {fmt_utc(last)}: "
                f"{step} windows start on multiples of {step} since the epoch (UTC); widen "
                "the range",
                "--since",
            )
        windows = _compute(client, name, bounds)
    if as_json:
        print_json({"monitor": name, "windows": [w.model_dump() for w in windows]})
    else:
        print_windows(f"Windows of {name}", windows)
    _exit_status(windows, checks)


def _windows(count: int) -> str:
    return f"{count} window" if count == 1 else f"{count} windows"


def _exit_status(windows: list[WindowSummary], fail_on: set[FailOn]) -> None:
    drifted = [w for w in windows if w.metrics.get("drift.dataset") == 1.0]
    broken = [w for w in windows if (w.metrics.get("quality.contract.failed_checks") or 0) > 0]
    alerted = [w for w in windows if w.alerts]
    failed = [w for w in windows if w.status == "failed"]
    found = []
    if FailOn.drift in fail_on and drifted:
        found.append(f"dataset drift in {len(drifted)} of {_windows(len(windows))}")
    if FailOn.contract in fail_on and broken:
        found.append(f"contract checks failed in {len(broken)} of {_windows(len(windows))}")
    if FailOn.alert in fail_on and alerted:
        found.append(f"alerts raised in {len(alerted)} of {_windows(len(windows))}")
    if failed:
        warn(
            f"{_windows(len(failed))} could not be computed, e.g. "
            f"{fmt_utc(failed[0].start)}: {failed[0].error}"
        )
    if found:
        warn(f"{'; '.join(found)} (--fail-on)")
        raise typer.Exit(EXIT_FOUND)
    if failed:
        raise typer.Exit(1)


@app.command("windows")
def windows(
    name: NameArgument,
    since: Annotated[
        str | None, typer.Option("--since", help=f"Windows starting from here. {TIME_HELP}")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="...and before here.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Show the metrics matching this glob instead of the default columns, e.g. "
            "'drift.column.*.score' or 'performance.*'; repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The computed windows, newest first, with their verdicts (--json: every metric)."""
    found = get_client().call(
        "list_monitor_windows",
        name=name,
        since=None if since is None else parse_time(since, "--since"),
        until=None if until is None else parse_time(until, "--until"),
        max_results=limit,
    )
    if as_json:
        print_json({"monitor": found.monitor, "windows": [w.model_dump() for w in found.windows]})
        return
    print_windows(f"Windows of {found.monitor}", found.windows, metric or [])


@app.command("window")
def window(
    name: NameArgument,
    start: Annotated[
        str, typer.Argument(help=f"The window's start, or any time in it. {TIME_HELP}")
    ],
    as_json: JsonOption = False,
) -> None:
    """One window's whole report: drift, data quality, contract checks, call statistics
    (a gateway monitor), outputs, performance, fairness.

    Drift per column shows the method, statistic, p-value, effect size and direction.
    """
    moment = parse_time(start, "START")
    client = get_client()
    size = _monitor(client, name).window_seconds * 1000
    aligned = moment - moment % size
    try:
        report = client.call("get_monitor_window", name=name, start=aligned)
    except NotFoundError as exc:
        if exc.field != "start":
            raise
        raise NotFoundError(
            f"monitor {name} has no computed window starting at {fmt_utc(aligned)}: compute "
            f"it with `mloop monitors run {name} --since {fmt_utc(aligned)} --until "
            f"{fmt_utc(aligned + size)}`",
            field="start",
        ) from None
    if as_json:
        print_json(report.model_dump())
        return
    print_report(report)
