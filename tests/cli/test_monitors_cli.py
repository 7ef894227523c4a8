"""``mloop monitors``: monitors created from options and spec files, backfills computed window
by window (the same verdicts as one call), tables and reports of windows, the --fail-on
exit status for CI, and bad input refused naming the option; embedded and through a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.cli.cli_helpers import Cli
from tests.monitoring.monitoring_testing import HOUR, T0, log_hour

import mloop
from mloop.cli.monitors._parse import fmt_seconds, fmt_utc, parse_duration, parse_time
from mloop.store.eventlog.inference import InferenceLog
from mloop.store.runtime import Runtime

ROWS = 200
FEATURES = ["income", "age"]


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def at(hour: int) -> str:
    """Hour ``hour`` after T0 as the CLI reads and prints it."""
    return fmt_utc(T0 + hour * HOUR)


def _frame(rng: np.random.Generator, *, shift: float = 0.0, north: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift, 10, ROWS),
            "age": rng.normal(40, 12, ROWS),
            "region": np.where(rng.random(ROWS) < north, "north", "south"),
        }
    )


@pytest.fixture
def traffic(runtime: Runtime) -> pd.DataFrame:
    """An endpoint with four hours of traffic: hours 0-2 like training, hour 3 with income
    shifted up and fewer rows from the north; hour 3 is labelled. Returns the training data."""
    rng = np.random.default_rng(7)
    train = _frame(rng)
    labels = (train["income"] + rng.normal(0, 5, ROWS) > 50).astype(int)
    model = LogisticRegression().fit(train[FEATURES], labels)
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=train[FEATURES].iloc[:5])
    mloop.register_model(info.model_uri, "credit")
    call("create_endpoint", name="credit-api")
    call("deploy", endpoint="credit-api", variants=[{"model": "credit", "version": 1}])
    for hour in range(4):
        drifted = hour == 3
        frame = _frame(rng, shift=25.0 if drifted else 0.0, north=0.2 if drifted else 0.5)
        log_hour(runtime, model, hour, frame, FEATURES)
    log = InferenceLog(runtime)
    log.attach_labels([(f"h3-{i}", i % 2) for i in range(ROWS)])
    log.close()
    return train


def _create(cli: Cli, name: str = "credit-drift", *extra: str) -> Any:
    return cli.ok(
        "monitors",
        "create",
        name,
        "--endpoint",
        "credit-api",
        "--reference-window",
        at(0),
        at(1),
        "--column",
        "income:number",
        "--column",
        "age:number",
        "--column",
        "region:category",
        "--sensitive",
        "region",
        "--no-schedule",
        *extra,
    )


def test_create_show_list_and_delete(cli: Cli, traffic: Any) -> None:
    created = _create(
        cli, "credit-drift", "--positive-label", "1", "--review-threshold", "0.7", "--delay", "120"
    )
    assert "Created monitor credit-drift of credit-api" in created.stderr
    shown = json.loads(cli.ok("monitors", "show", "credit-drift", "--json").stdout)
    assert shown["reference"] == {
        "kind": "window",
        "since": T0,
        "until": T0 + HOUR,
        "dataset": None,
        "version": None,
        "profile": False,
        "label_column": None,
        "classes": None,
        "probability_columns": None,
        "windows": None,
    }
    assert shown["reference_rows"] == ROWS
    assert shown["columns"] == {"income": "number", "age": "number", "region": "category"}
    assert shown["fairness"]["sensitive"] == ["region"]
    assert shown["fairness"]["positive_label"] == 1  # a JSON number on the command line
    assert shown["performance"]["positive_label"] == 1
    assert (shown["review_threshold"], shown["schedule"], shown["delay_seconds"]) == (
        0.7,
        False,
        120,
    )
    table = cli.ok("monitors", "show", "credit-drift").stdout
    assert f"window {at(0)} to {at(1)}" in table and "region" in table
    cli.ok("monitors", "create", "credit-rolling", "-e", "credit-api", "--rolling", "3")
    listed = cli.ok("monitors", "list").stdout
    assert "credit-drift" in listed and "rolling: the 3 windows before each" in listed
    names = [m["name"] for m in json.loads(cli.ok("monitors", "list", "--json").stdout)]
    assert names == ["credit-drift", "credit-rolling"]
    other = cli.ok("monitors", "list", "--endpoint", "other-api", "--json").stdout
    assert json.loads(other) == []

    declined = cli("monitors", "delete", "credit-drift")  # no answer: nothing is deleted
    assert declined.exit_code == 1 and "Nothing deleted" in declined.stderr
    cli.ok("monitors", "show", "credit-drift")
    cli.ok("monitors", "delete", "credit-drift", "--yes")
    gone = cli("monitors", "show", "credit-drift")
    assert gone.exit_code == 1
    assert "monitor 'credit-drift' does not exist" in gone.stderr
    assert "mloop monitors list" in gone.stderr


def test_backfill_table_and_fail_on_exit_codes(cli: Cli, traffic: Any) -> None:
    call(
        "create_alert_rule",
        name="income-drift",
        source="monitor",
        metric="drift.column.income.drifted",
        kind="threshold",
        operator=">=",
        threshold=1,
        severity="warning",
    )
    _create(cli)
    alerted = cli("monitors", "run", "credit-drift", "--since", at(1), "--until", at(4))
    assert alerted.exit_code == 0, alerted.output  # drift and an alert, but no --fail-on
    rows = {line.split("│")[1].strip(): line for line in alerted.stdout.splitlines() if "│" in line}
    assert list(rows) == [at(1), at(2), at(3)]
    assert "DRIFT" in rows[at(3)] and "income" in rows[at(3)] and "age" not in rows[at(3)]
    assert "DRIFT" not in rows[at(1)] and "DRIFT" not in rows[at(2)]
    assert rows[at(3)].rstrip("│ ").endswith("1")  # the alert it raised

    failed = cli(
        "monitors", "run", "credit-drift", "--since", at(1), "--until", at(4), "--fail-on", "drift"
    )
    assert failed.exit_code == 3, failed.output
    assert "dataset drift in 1 of 3 windows (--fail-on)" in failed.stderr
    quiet = cli(
        "monitors", "run", "credit-drift", "--since", at(1), "--until", at(3), "--fail-on", "drift"
    )
    assert quiet.exit_code == 0, quiet.output
    body = json.loads(
        cli.ok(
            "monitors", "run", "credit-drift", "--since", at(2), "--until", at(4), "--json"
        ).stdout
    )
    assert body["monitor"] == "credit-drift"
    assert [w["start"] for w in body["windows"]] == [T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert body["windows"][1]["metrics"]["drift.dataset"] == 1.0


def test_an_alert_fails_the_run_with_fail_on_alert(cli: Cli, traffic: Any) -> None:
    call(
        "create_alert_rule",
        name="any-drift",
        source="monitor",
        metric="drift.share",
        kind="threshold",
        operator=">",
        threshold=0.3,
        severity="critical",
    )
    _create(cli)
    result = cli(
        "monitors", "run", "credit-drift", "--since", at(1), "--until", at(4), "--fail-on", "alert"
    )
    assert result.exit_code == 3, result.output
    assert "alerts raised in 1 of 3 windows" in result.stderr


def test_a_window_that_cannot_be_computed_fails_the_run(
    cli: Cli, traffic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mloop.monitoring import compute

    computed = compute.compute_window
    calls = 0

    def second_fails(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("the disk is on fire")
        return computed(*args, **kwargs)

    _create(cli)
    monkeypatch.setattr(compute, "compute_window", second_fails)
    result = cli("monitors", "run", "credit-drift", "--since", at(1), "--until", at(4))
    assert result.exit_code == 1, result.output
    assert f"1 window could not be computed, e.g. {at(2)}: ValueError: the disk is on fire" in (
        result.stderr
    )
    assert "failed" in result.stdout and "the disk is on fire" in result.stdout  # its row
    calls = 0
    found = cli(
        "monitors", "run", "credit-drift", "--since", at(1), "--until", at(4), "--fail-on", "drift"
    )
    assert found.exit_code == 3, found.output  # a finding outranks a failed window


def test_a_backfill_window_by_window_equals_one_call(cli: Cli, traffic: Any) -> None:
    # A rolling reference reads the windows computed before each: the CLI's one call per
    # window (for its progress bar) must see them as the operation's single pass does.
    for name in ("by-cli", "by-sdk"):
        cli.ok("monitors", "create", name, "-e", "credit-api", "--rolling", "2", "--no-schedule")
    body = json.loads(
        cli.ok("monitors", "run", "by-cli", "--since", at(0), "--until", at(4), "--json").stdout
    )
    one_call = call("run_monitor", name="by-sdk", since=T0, until=T0 + 4 * HOUR).windows
    assert [w["start"] for w in body["windows"]] == [w.start for w in one_call]
    # Equal up to float rounding: a window streams out of DuckDB in no fixed row order.
    for by_cli, by_sdk in zip(body["windows"], one_call, strict=True):
        assert by_cli["metrics"].keys() == by_sdk.metrics.keys()
        for name, value in by_sdk.metrics.items():
            expected = value if value is None else pytest.approx(value, rel=1e-12)
            assert by_cli["metrics"][name] == expected, name
    assert body["windows"][3]["metrics"]["drift.column.income.drifted"] == 1.0


def test_the_last_closed_window_by_default(cli: Cli, traffic: Any) -> None:
    _create(cli)
    body = json.loads(cli.ok("monitors", "run", "credit-drift", "--json").stdout)
    (window,) = body["windows"]
    assert window["status"] == "empty"  # nothing was logged in the last hour
    assert window["end"] - window["start"] == HOUR


def test_windows_table_metrics_and_the_full_report(cli: Cli, traffic: Any) -> None:
    _create(cli, "credit-drift", "--positive-label", "1")
    cli.ok("monitors", "run", "credit-drift", "--since", at(1), "--until", at(4))

    listed = json.loads(cli.ok("monitors", "windows", "credit-drift", "--json").stdout)
    assert [w["start"] for w in listed["windows"]] == [T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + HOUR]
    assert "fairness.region.north.selection_rate" in listed["windows"][0]["metrics"]
    limited = json.loads(
        cli.ok("monitors", "windows", "credit-drift", "--limit", "1", "--json").stdout
    )
    assert [w["start"] for w in limited["windows"]] == [T0 + 3 * HOUR]
    ranged = json.loads(
        cli.ok(
            "monitors", "windows", "credit-drift", "--since", at(1), "--until", at(3), "--json"
        ).stdout
    )
    assert [w["start"] for w in ranged["windows"]] == [T0 + 2 * HOUR, T0 + HOUR]

    table = cli.ok("monitors", "windows", "credit-drift").stdout
    assert "drift share" in table and "accuracy" in table  # hour 3 is labelled
    picked = cli.ok("monitors", "windows", "credit-drift", "--metric", "performance.*").stdout
    assert "performance.*" in picked  # the shared prefix is in the title, once
    assert "roc_auc" in picked and "drift share" not in picked
    unknown = cli("monitors", "windows", "credit-drift", "--metric", "perf.*")
    assert unknown.exit_code == 1
    assert "--metric 'perf.*' matches no metric" in unknown.stderr
    assert "performance.*" in unknown.stderr

    # Any time in the window names it.
    report = cli.ok("monitors", "window", "credit-drift", fmt_utc(T0 + 3 * HOUR + 1_800_000))
    text = report.stdout
    assert f"{at(3)} to {at(4)}" in text
    income = next(
        line for line in text.splitlines() if line.startswith("│ income") and "ks" in line
    )
    assert "DRIFT" in income and "up" in income and "sd (mean)" in income
    assert "Data quality" in text and "out of range" in text
    assert "Performance" in text and "roc_auc" in text
    assert "Fairness by region" in text and "four-fifths rule" in text
    full = json.loads(
        cli.ok("monitors", "window", "credit-drift", str(T0 + 3 * HOUR), "--json").stdout
    )
    columns = {c["column"]: c for c in full["report"]["drift"]["columns"]}
    assert columns["income"]["drifted"] and not columns["age"]["drifted"]
    assert full["report"]["performance"]["n_labelled"] == ROWS

    missing = cli("monitors", "window", "credit-drift", at(0))
    assert missing.exit_code == 1
    assert f"no computed window starting at {at(0)}" in missing.stderr
    assert f"mloop monitors run credit-drift --since {at(0)} --until {at(1)}" in missing.stderr


def test_a_spec_file_with_options_over_it(cli: Cli, traffic: Any, tmp_path: Path) -> None:
    spec = tmp_path / "monitor.yaml"
    spec.write_text(
        "endpoint: credit-api\n"
        "reference: {kind: window, since: '2026-05-28T20:00Z', until: '2026-05-28T21:00Z'}\n"
        "window_seconds: 1h\n"
        "columns: {income: number, age: number}\n"
        "drift: {methods: {income: psi}, drift_share: 0.3}\n"
        "schedule: false\n"
        "description: from a file\n",
        encoding="utf-8",
    )
    cli.ok("monitors", "create", "filed", "--from-file", str(spec), "--window", "30m")
    shown = json.loads(cli.ok("monitors", "show", "filed", "--json").stdout)
    assert shown["reference"]["since"] == T0 and shown["reference"]["until"] == T0 + HOUR
    assert shown["window_seconds"] == 1800  # the option wins over the file
    assert shown["drift"]["methods"] == {"income": "psi"} and shown["drift"]["drift_share"] == 0.3
    assert shown["description"] == "from a file"

    as_json = tmp_path / "monitor.json"
    as_json.write_text(
        json.dumps({"endpoint": "credit-api", "reference": {"kind": "rolling", "windows": 4}}),
        encoding="utf-8",
    )
    cli.ok("monitors", "create", "filed-json", "--from-file", str(as_json), "--rolling", "2")
    rolled = json.loads(cli.ok("monitors", "show", "filed-json", "--json").stdout)
    assert rolled["reference"]["windows"] == 2

    broken = tmp_path / "broken.yaml"
    broken.write_text("endpoint: credit-api\nreference: [unclosed\n", encoding="utf-8")
    bad = cli("monitors", "create", "x", "--from-file", str(broken))
    assert bad.exit_code == 2 and "broken.yaml is not valid YAML at line 3" in bad.stderr
    other_name = tmp_path / "named.yaml"
    other_name.write_text("name: another\nendpoint: credit-api\n", encoding="utf-8")
    clash = cli("monitors", "create", "x", "--from-file", str(other_name), "--rolling", "2")
    assert clash.exit_code == 2 and "names the monitor 'another'" in clash.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("endpoint: credit-api\nwindow: 1h\n", encoding="utf-8")
    refused = cli("monitors", "create", "x", "--from-file", str(unknown), "--rolling", "2")
    assert refused.exit_code == 1 and "window" in refused.stderr


def test_a_registered_dataset_as_reference(cli: Cli, traffic: pd.DataFrame) -> None:
    mloop.register_dataset("credit-train", traffic, alias="training")
    mloop.register_dataset("credit-train", traffic.iloc[:100])
    for name, ref, version in (
        ("by-alias", "credit-train@training", 1),
        ("by-version", "credit-train@1", 1),
        ("by-name", "credit-train", 2),  # the newest, pinned when the monitor is made
    ):
        cli.ok("monitors", "create", name, "-e", "credit-api", "--reference-dataset", ref)
        reference = json.loads(cli.ok("monitors", "show", name, "--json").stdout)["reference"]
        assert (reference["dataset"], reference["version"]) == ("credit-train", version)
    shown = cli.ok("monitors", "show", "by-alias").stdout
    assert "dataset credit-train version 1" in shown
    cli.ok("monitors", "run", "by-alias", "--since", at(3), "--until", at(4))
    report = json.loads(cli.ok("monitors", "window", "by-alias", at(3), "--json").stdout)
    assert report["report"]["reference"]["source"] == "dataset credit-train version 1"
    missing = cli("monitors", "create", "x", "-e", "credit-api", "--reference-dataset", "nope@3")
    assert missing.exit_code == 1 and "nope" in missing.stderr
    unknown_alias = cli(
        "monitors", "create", "x", "-e", "credit-api", "--reference-dataset", "credit-train@gold"
    )
    assert unknown_alias.exit_code == 1 and "field: reference-dataset" in unknown_alias.stderr


# (arguments, what the error says, the field it names; None: click's own message)
_BAD_INPUT: list[tuple[list[str], str, str | None]] = [
    (["run", "credit-drift", "--since", "yesterday"], "--since 'yesterday' is not a time", "since"),
    (["run", "credit-drift", "--since", "1780000000"], "looks like seconds", "since"),
    (["run", "credit-drift", "--since", "now-2x"], "--since '2x' is not a duration", "since"),
    (["run", "credit-drift", "--since", at(2), "--until", at(1)], "is not after", "until"),
    (
        ["run", "credit-drift", "--since", "2026-05-28T20:10Z", "--until", "2026-05-28T20:50Z"],
        "no window starts between 2026-05-28T20:10Z and 2026-05-28T20:50Z",
        "since",
    ),
    (["run", "credit-drift", "--fail-on", "drifts"], "'drifts' is not one of", None),
    (
        ["windows", "credit-drift", "--until", "tomorrow"],
        "--until 'tomorrow' is not a time",
        "until",
    ),
    (["window", "credit-drift", "noon"], "START 'noon' is not a time", "start"),
    (
        ["create", "m", "-e", "credit-api", "--rolling", "2", "-w", "1x"],
        "is not a duration",
        "window",
    ),
    (["create", "m", "-e", "credit-api", "--rolling", "2", "-w", "30s"], "1m to 7d", "window"),
    (["create", "m", "-e", "credit-api", "--rolling", "2", "-c", "age"], "NAME:KIND", "column"),
    (["create", "m", "-e", "credit-api", "--rolling", "2", "-c", "age:int"], "NAME:KIND", "column"),
    (["create", "m", "-e", "credit-api"], "a monitor needs a reference", "reference"),
    (["create", "m", "--rolling", "2"], "give what the monitor watches", "endpoint"),
    (
        [
            "create",
            "m",
            "-e",
            "credit-api",
            "--dataset",
            "d",
            "--time-column",
            "t",
            "--rolling",
            "2",
        ],
        "not both",
        "endpoint",
    ),
    (["create", "m", "--dataset", "d", "--rolling", "2"], "needs --time-column", "time-column"),
    (
        ["create", "m", "-e", "credit-api", "--time-column", "t", "--rolling", "2"],
        "goes with --dataset",
        "time-column",
    ),
    (
        ["create", "m", "--dataset", "d@x", "--time-column", "t", "--rolling", "2"],
        "NAME@VERSION",
        "dataset",
    ),
    (
        ["create", "m", "-e", "credit-api", "--rolling", "2", "--reference-dataset", "d"],
        "give one reference, not --reference-dataset and --rolling",
        "rolling",
    ),
    (
        ["create", "m", "-e", "credit-api", "--reference-window", at(1), at(0)],
        f"UNTIL ({at(0)}) must be after SINCE ({at(1)})",
        "reference-window",
    ),
    (
        ["create", "m", "-e", "credit-api", "--reference-dataset", "@3"],
        "NAME@VERSION",
        "reference-dataset",
    ),
    (["create", "m", "-e", "credit-api", "--rolling", "0"], "--rolling", None),
]


def test_bad_input_is_a_usage_error_naming_the_option(cli: Cli, traffic: Any) -> None:
    _create(cli)
    for args, message, field in _BAD_INPUT:
        result = cli("monitors", *args)
        assert result.exit_code == 2, (args, result.output)
        said = " ".join(result.stderr.replace("│", " ").split())
        assert message in said, (args, said)
        if field is not None:
            assert said.startswith("error: ") and said.endswith(f"(field: {field})"), said
    assert json.loads(cli.ok("monitors", "list", "--json").stdout)[0]["name"] == "credit-drift"
    assert len(json.loads(cli.ok("monitors", "list", "--json").stdout)) == 1  # nothing made


def test_unknown_monitors_and_refusals_from_the_server(cli: Cli, traffic: Any) -> None:
    for args in (
        ["show", "nope"],
        ["run", "nope"],
        ["run", "nope", "--since", at(1)],
        ["windows", "nope"],
        ["window", "nope", at(1)],
        ["delete", "nope", "--yes"],
    ):
        result = cli("monitors", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "monitor 'nope' does not exist" in result.stderr, args
    _create(cli)
    taken = cli("monitors", "create", "credit-drift", "-e", "credit-api", "--rolling", "2")
    assert taken.exit_code == 1 and "already exists" in taken.stderr
    quiet = cli(
        "monitors",
        "create",
        "q",
        "-e",
        "credit-api",
        "--reference-window",
        "2020-01-01",
        "2020-01-02",
    )
    assert quiet.exit_code == 1 and "logged no successful request" in quiet.stderr
    no_endpoint = cli("monitors", "create", "q", "-e", "nope-api", "--rolling", "2")
    assert no_endpoint.exit_code == 1 and "nope-api" in no_endpoint.stderr


def test_the_commands_through_a_server(cli: Cli, traffic: Any, remote: Any) -> None:
    _create(cli)
    failed = cli(
        "monitors", "run", "credit-drift", "--since", at(1), "--until", at(4), "--fail-on", "drift"
    )
    assert failed.exit_code == 3, failed.output
    listed = json.loads(cli.ok("monitors", "windows", "credit-drift", "--json").stdout)
    assert [w["start"] for w in listed["windows"]] == [T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + HOUR]
    assert "DRIFT" in cli.ok("monitors", "windows", "credit-drift").stdout
    cli.ok("monitors", "delete", "credit-drift", "--yes")
    assert json.loads(cli.ok("monitors", "list", "--json").stdout) == []


def test_window_reports_and_ranges_through_a_server(cli: Cli, traffic: Any, remote: Any) -> None:
    _create(cli)
    cli.ok("monitors", "run", "credit-drift", "--since", at(3), "--until", at(4))
    ranged = cli.ok("monitors", "windows", "credit-drift", "--since", at(3), "--json").stdout
    assert len(json.loads(ranged)["windows"]) == 1
    report = cli.ok("monitors", "window", "credit-drift", at(3)).stdout
    assert "income" in report and "DRIFT" in report


def test_times_and_durations_read_back_what_the_tables_print() -> None:
    assert parse_time("2026-05-28T20:00Z", "--since") == T0
    assert parse_time("2026-05-28 20:00", "--since") == T0  # UTC without an offset
    assert parse_time("2026-05-28T22:00+02:00", "--since") == T0
    assert parse_time("2026-05-28", "--since") == T0 - 20 * HOUR
    assert parse_time(str(T0), "--since") == T0
    assert parse_time("now", "--since", now=T0) == T0
    assert parse_time("now-2h", "--since", now=T0) == T0 - 2 * HOUR
    assert parse_time("now+1h30m", "--since", now=T0) == T0 + 90 * 60_000
    assert parse_time(fmt_utc(T0 + 61_000), "--since") == T0 + 61_000
    assert [parse_duration(text, "--window") for text in ("90", "30m", "1h", "1d", "1w")] == [
        90,
        1800,
        3600,
        86_400,
        604_800,
    ]
    assert [fmt_seconds(s) for s in (3600, 5400, 86_400, 90)] == ["1h", "1h30m", "1d", "1m30s"]
    assert parse_duration(fmt_seconds(5400), "--window") == 5400


def test_a_monitor_of_a_dataset_by_event_time(cli: Cli, runtime: Any) -> None:
    import numpy as np
    import pandas as pd

    import mloop

    hour = 3_600_000
    start = 1_780_000_000_000 // hour * hour
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "at": start + np.arange(600) * 12_000,  # two hours, ms since the epoch
            "amount": np.r_[rng.normal(100, 10, 300), rng.normal(160, 10, 300)],
        }
    )
    mloop.register_dataset("payments", frame)
    cli.ok(
        "monitors",
        "create",
        "pay",
        "--dataset",
        "payments",
        "--time-column",
        "at",
        "--reference-window",
        str(start),
        str(start + hour),
        "--no-schedule",
    )
    listed = cli.ok("monitors", "list").stdout
    assert "dataset payments by at" in listed
    ran = cli.ok(
        "monitors", "run", "pay", "--since", str(start + hour), "--until", str(start + 2 * hour)
    )
    assert "amount" in ran.stdout  # the drifted column
