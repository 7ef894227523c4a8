"""``mloop monitors`` for the LLM gateway's calls and for data contracts: gateway monitors
made from --gateway/--route/--prompt/--model/--project (or a spec file), listed by target,
their windows' call statistics in the tables and the report; contracts from a file or a
dataset's policy, their checks in the report (failed first) and --fail-on contract; bad
input refused naming the option; embedded and through a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.cli.cli_helpers import Cli
from tests.monitoring.monitoring_testing import HOUR, T0

import mloop
from mloop.cli.monitors._parse import fmt_utc
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.store.runtime import Runtime

CALLS = 200
PAYMENTS = 400
CONTRACT = """\
contract: payments
version: 3
columns:
  amount: {type: float64, min: 0, nullable: false}
  channel: {allowed: [web, store]}
  fee: {min: 0, severity: warn}
rules:
  - name: fee_below_amount
    sql: fee <= amount
"""


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def at(hour: int) -> str:
    """Hour ``hour`` after T0 as the CLI reads and prints it."""
    return fmt_utc(T0 + hour * HOUR)


def _rows(text: str, title: str = "") -> dict[str, dict[str, str]]:
    """The rows of the tables in ``text`` (those whose title starts with ``title``) by their
    first cell, each as {header: cell}."""
    found: dict[str, dict[str, str]] = {}
    headers: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.strip() and line.lstrip()[0] not in "┏┃┡│└":
            current = line.strip()
        elif "┃" in line:
            headers = [cell.strip() for cell in line.split("┃")[1:-1]]
        elif "│" in line and headers and current.startswith(title):
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            found[cells[0]] = dict(zip(headers, cells, strict=True))
    return found


def _hour_of_calls(hour: int, *, route: str, count: int, slow: bool = False) -> list[CallRecord]:
    """``count`` calls of ``route`` in hour ``hour``; ``slow``: twice the latency, a fifth
    fail, and model small-b answers instead of small-a."""
    rng = np.random.default_rng(hour)
    return [
        CallRecord(
            id=f"{route}-{hour}-{i:04d}",
            time=T0 + hour * HOUR + i * 1000,
            endpoint="chat",
            requested_model=route,
            route=route,
            prompt_name="support-reply" if route == "support" else None,
            project="finance" if route == "billing" else "default",
            model="small-b" if slow else "small-a",
            provider="fake",
            status="error" if slow and i % 5 == 0 else "ok",
            http_status=502 if slow and i % 5 == 0 else 200,
            latency_ms=float(rng.normal(800 if slow else 400, 40)),
            input_tokens=int(rng.integers(100, 200)),
            output_tokens=int(rng.integers(20, 60)),
            cost_usd=0.001,
            cache="exact" if i % 10 == 0 else "miss",
            metadata={"segment": "trial" if i % 2 else "paid"},
        )
        for i in range(count)
    ]


@pytest.fixture
def calls(runtime: Runtime) -> None:
    """Route support: 200 calls an hour for four hours, slower and failing in hour 3;
    route billing (project finance): 50 calls in hour 0."""
    records = [
        r
        for hour in range(4)
        for r in _hour_of_calls(hour, route="support", count=CALLS, slow=hour == 3)
    ]
    records += _hour_of_calls(0, route="billing", count=50)
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)


@pytest.fixture
def payments(runtime: Runtime) -> None:
    """Dataset payments: 400 rows an hour for three hours; in hour 2 a tenth have a negative
    amount and a twentieth come from a channel the contract does not allow."""
    rng = np.random.default_rng(5)
    parts = []
    for hour in range(3):
        amount = rng.normal(100, 10, PAYMENTS)
        channel = rng.choice(["web", "store"], PAYMENTS).astype(object)
        if hour == 2:
            amount[: PAYMENTS // 10] = -1.0
            channel[PAYMENTS // 10 : PAYMENTS // 10 + PAYMENTS // 20] = "kiosk"
        parts.append(
            pd.DataFrame(
                {
                    "at": T0 + hour * HOUR + np.arange(PAYMENTS) * 1000,
                    "amount": amount,
                    "fee": np.full(PAYMENTS, 2.0),
                    "channel": channel,
                }
            )
        )
    mloop.register_dataset("payments", pd.concat(parts, ignore_index=True))


def _payments_monitor(cli: Cli, name: str, *contract: str) -> Any:
    return cli.ok(
        "monitors",
        "create",
        name,
        "--dataset",
        "payments",
        "--time-column",
        "at",
        "-c",
        "amount:number",
        "-c",
        "fee:number",
        "-c",
        "channel:category",
        "--reference-window",
        at(0),
        at(1),
        "--no-schedule",
        *contract,
    )


def test_a_gateway_monitor_of_a_route(cli: Cli, calls: None) -> None:
    created = cli.ok(
        "monitors",
        "create",
        "support-calls",
        "--route",
        "support",
        "--reference-window",
        at(0),
        at(1),
        "--no-schedule",
    )
    assert "Created monitor support-calls of gateway: route support" in created.stderr
    assert "reference of 200 rows" in created.stderr  # the route's calls, not billing's
    shown = json.loads(cli.ok("monitors", "show", "support-calls", "--json").stdout)
    assert shown["target"] == "gateway" and shown["endpoint"] is None
    assert shown["gateway"] == {"route": "support", "prompt": None, "model": None, "project": None}
    assert shown["columns"]["latency_ms"] == "number" and shown["columns"]["model"] == "category"
    table = cli.ok("monitors", "show", "support-calls").stdout
    assert "gateway: route support" in table and "call log" in table
    assert "positive label" not in table  # calls have no model outputs to judge

    ran = cli.ok("monitors", "run", "support-calls", "--since", at(1), "--until", at(4)).stdout
    assert "error rate" in ran and "latency p95 ms" in ran and "cost usd" in ran
    rows = _rows(ran)
    assert list(rows) == [at(1), at(2), at(3)]
    assert rows[at(3)]["drifted columns"] == "latency_ms, status, model"
    assert (rows[at(1)]["error rate"], rows[at(3)]["error rate"]) == ("0", "0.2")
    assert float(rows[at(3)]["latency p95 ms"]) > 1.5 * float(rows[at(1)]["latency p95 ms"])
    assert rows[at(1)]["cost usd"] == "0.2" and rows[at(1)]["drifted columns"] == "-"

    report = cli.ok("monitors", "window", "support-calls", at(3)).stdout
    assert "Calls" in report
    figures = {name: row["value"] for name, row in _rows(report, "Calls").items()}
    assert figures["calls"] == "200" and figures["statuses"] == "ok 160, error 40"
    assert figures["error rate"] == "20.0%" and figures["cache hit rate"] == "10.0%"
    assert figures["cost (USD)"] == "0.2" and figures["cost per call (USD)"] == "0.001"
    p50, p95, p99 = (float(v) for v in figures["latency p50 / p95 / p99 (ms)"].split("/"))
    assert 700 < p50 < p95 < p99 < 1000  # the calls that did not fail
    assert "Drift:" in report and "Data quality" in report
    # Calls have no predictions: no outputs, and no untested output columns in the drift.
    assert "Outputs" not in report and "labelled" not in report
    drift = _rows(report, "Drift:")
    assert drift["latency_ms"]["drifted"] == "DRIFT" and drift["input_tokens"]["drifted"] == "no"
    assert "prediction" not in drift and "confidence" not in drift
    full = json.loads(cli.ok("monitors", "window", "support-calls", at(3), "--json").stdout)
    assert full["report"]["gateway"]["statuses"] == {"error": 40, "ok": 160}
    picked = cli.ok("monitors", "windows", "support-calls", "--metric", "gateway.latency.*")
    assert "gateway.latency.*" in picked.stdout and "p99" in picked.stdout


def test_gateway_scopes_metadata_columns_and_the_target_filter(
    cli: Cli, calls: None, payments: None
) -> None:
    cli.ok("monitors", "create", "all-calls", "--gateway", "--rolling", "2", "--no-schedule")
    cli.ok(
        "monitors",
        "create",
        "small-b",
        "--model",
        "small-b",
        "--prompt",
        "support-reply",
        "--rolling",
        "2",
        "--no-schedule",
    )
    cli.ok(
        "monitors",
        "create",
        "finance",
        "--project",
        "finance",
        "-c",
        "segment:category",
        "-c",
        "latency_ms:number",
        "--reference-window",
        at(0),
        at(1),
    )
    _payments_monitor(cli, "payments")

    body = json.loads(
        cli.ok("monitors", "run", "all-calls", "--since", at(0), "--until", at(1), "--json").stdout
    )
    assert body["windows"][0]["rows"] == 250  # both routes
    windows = json.loads(
        cli.ok("monitors", "run", "small-b", "--since", at(2), "--until", at(4), "--json").stdout
    )["windows"]
    assert [(w["status"], w["rows"]) for w in windows] == [("empty", 0), ("ok", CALLS)]
    empty = cli.ok("monitors", "window", "small-b", at(2)).stdout
    assert "No rows fell in this window" in empty and "Calls" not in empty
    finance = json.loads(cli.ok("monitors", "show", "finance", "--json").stdout)
    assert finance["gateway"]["project"] == "finance" and finance["reference_rows"] == 50
    assert finance["columns"] == {"segment": "category", "latency_ms": "number"}
    shown = _rows(cli.ok("monitors", "show", "finance").stdout)
    assert (shown["segment"]["from"], shown["latency_ms"]["from"]) == ("metadata", "call log")

    table = _rows(cli.ok("monitors", "list").stdout)
    listed = {name: row["watches"] for name, row in table.items()}
    assert listed == {
        "all-calls": "gateway: all calls",
        "finance": "gateway: project finance",
        "payments": "dataset payments by at",
        "small-b": "gateway: prompt support-reply, model small-b",
    }
    gateway = json.loads(cli.ok("monitors", "list", "--target", "gateway", "--json").stdout)
    assert [m["name"] for m in gateway] == ["all-calls", "finance", "small-b"]
    only = _rows(cli.ok("monitors", "list", "--target", "dataset").stdout)
    assert list(only) == ["payments"]
    assert json.loads(cli.ok("monitors", "list", "--target", "endpoint", "--json").stdout) == []
    bad = cli("monitors", "list", "--target", "route")
    assert bad.exit_code == 2 and "'route' is not one of" in bad.stderr


def test_a_contract_from_a_file_checked_window_by_window(
    cli: Cli, payments: None, tmp_path: Path
) -> None:
    contract = tmp_path / "payments.contract.yaml"
    contract.write_text(CONTRACT, encoding="utf-8")
    created = _payments_monitor(cli, "checked", "--contract", str(contract))
    assert "checking contract payments v3" in created.stderr
    shown = json.loads(cli.ok("monitors", "show", "checked", "--json").stdout)
    assert shown["contract"]["yaml"] == CONTRACT and shown["contract"]["dataset"] is None
    digest = shown["contract"]["digest"]
    assert f"payments v3, sha256 {digest[:12]}" in cli.ok("monitors", "show", "checked").stdout
    assert _rows(cli.ok("monitors", "list").stdout)["checked"]["contract"] == "payments v3"

    ran = _rows(cli.ok("monitors", "run", "checked", "--since", at(1), "--until", at(3)).stdout)
    assert (ran[at(1)]["failed checks"], ran[at(1)]["worst check share"]) == ("0", "0")
    assert (ran[at(2)]["failed checks"], ran[at(2)]["worst check share"]) == ("3", "0.1")
    gated = cli(
        "monitors", "run", "checked", "--since", at(1), "--until", at(3), "--fail-on", "contract"
    )
    assert gated.exit_code == 3, gated.output
    assert "contract checks failed in 1 of 2 windows (--fail-on)" in gated.stderr
    clean = cli(
        "monitors", "run", "checked", "--since", at(1), "--until", at(2), "--fail-on", "contract"
    )
    assert clean.exit_code == 0, clean.output

    report = cli.ok("monitors", "window", "checked", at(2)).stdout
    assert "Contract payments v3: 3 of 5 checks failed (400 rows)" in report
    checks = _rows(report, "Contract payments v3")
    # Failed first, the largest share first; then those that passed.
    assert list(checks)[:3] == ["amount.min", "fee_below_amount", "channel.allowed"]
    assert {checks[name]["status"] for name in list(checks)[3:]} == {"passed"}
    amount = checks["amount.min"]
    assert (amount["status"], amount["failing share"], amount["failing rows"]) == (
        "FAILED",
        "10.0%",
        "40",
    )
    assert checks["channel.allowed"]["failing rows"] == "20"
    assert checks["fee.min"]["severity"] == "warn"
    assert "amount.min: e.g. amount=-1, channel='store', fee=2" in report
    full = json.loads(cli.ok("monitors", "window", "checked", at(2), "--json").stdout)
    assert full["metrics"]["quality.contract.check.channel.allowed.share"] == pytest.approx(0.05)
    assert full["report"]["contract"]["failed_checks"] == 3

    _payments_monitor(cli, "unchecked")
    ungated = cli(
        "monitors", "run", "unchecked", "--since", at(1), "--until", at(3), "--fail-on", "contract"
    )
    assert ungated.exit_code == 2
    assert "monitor unchecked checks no data contract" in ungated.stderr


def test_a_contract_from_a_dataset_policy(cli: Cli, payments: None) -> None:
    refused = cli(
        "monitors",
        "create",
        "policed",
        "--dataset",
        "payments",
        "--time-column",
        "at",
        "-c",
        "amount:number",
        "--rolling",
        "2",
        "--contract-from",
        "payments",
    )
    assert refused.exit_code == 1 and "has no registration policy" in refused.stderr
    assert "(field: contract.dataset)" in refused.stderr
    call("set_dataset_policy", name="payments", contract_yaml=CONTRACT)
    _payments_monitor(cli, "policed", "--contract-from", "payments")
    shown = json.loads(cli.ok("monitors", "show", "policed", "--json").stdout)
    assert shown["contract"]["dataset"] == "payments" and shown["contract"]["yaml"] == CONTRACT
    assert "(from dataset payments's policy)" in cli.ok("monitors", "show", "policed").stdout
    cli.ok("monitors", "run", "policed", "--since", at(2), "--until", at(3))
    report = cli.ok("monitors", "window", "policed", at(2)).stdout
    assert "Contract payments v3 (dataset payments's policy): 3 of" in report


def test_spec_files_with_a_gateway_and_a_contract(cli: Cli, calls: None, tmp_path: Path) -> None:
    spec = tmp_path / "support.yaml"
    spec.write_text(
        "gateway: {route: support}\n"
        "reference: {kind: window, since: '" + at(0) + "', until: '" + at(1) + "'}\n"
        "columns: {latency_ms: number, segment: category}\n"
        "contract:\n"
        "  yaml: |\n"
        "    contract: support-calls\n"
        "    version: 1\n"
        "    columns:\n"
        "      latency_ms: {max: 600}\n"
        "      segment: {allowed: [paid, trial]}\n"
        "schedule: false\n",
        encoding="utf-8",
    )
    cli.ok("monitors", "create", "support-filed", "--from-file", str(spec))
    shown = json.loads(cli.ok("monitors", "show", "support-filed", "--json").stdout)
    assert shown["gateway"]["route"] == "support" and shown["contract"]["name"] == "support-calls"
    windows = json.loads(
        cli.ok(
            "monitors", "run", "support-filed", "--since", at(2), "--until", at(4), "--json"
        ).stdout
    )["windows"]
    shares = [w["metrics"]["quality.contract.check.latency_ms.max.share"] for w in windows]
    assert shares[0] == 0.0 and shares[1] > 0.9  # hour 3: twice as slow
    report = cli.ok("monitors", "window", "support-filed", at(3)).stdout
    assert "Calls" in report and "Contract support-calls v1: 1 of" in report

    # The command line's target replaces the file's; the scope options narrow the file's.
    endpoint = tmp_path / "endpoint.yaml"
    endpoint.write_text("endpoint: credit-api\nreference: {kind: rolling, windows: 2}\n")
    cli.ok("monitors", "create", "moved", "--from-file", str(endpoint), "--project", "finance")
    moved = json.loads(cli.ok("monitors", "show", "moved", "--json").stdout)
    assert moved["endpoint"] is None and moved["gateway"]["project"] == "finance"
    cli.ok("monitors", "create", "narrowed", "--from-file", str(spec), "--model", "small-a")
    narrowed = json.loads(cli.ok("monitors", "show", "narrowed", "--json").stdout)["gateway"]
    assert (narrowed["route"], narrowed["model"]) == ("support", "small-a")
    bare = tmp_path / "bare.yaml"
    bare.write_text("gateway:\nreference: {kind: rolling, windows: 2}\n")  # every call
    cli.ok("monitors", "create", "bare", "--from-file", str(bare))
    assert _rows(cli.ok("monitors", "list").stdout)["bare"]["watches"] == "gateway: all calls"
    both = tmp_path / "both.yaml"
    both.write_text("endpoint: x\ngateway: {}\nreference: {kind: rolling, windows: 2}\n")
    clash = cli("monitors", "create", "clash", "--from-file", str(both))
    assert clash.exit_code == 2 and "names endpoint and gateway" in clash.stderr


def _big(tmp_path: Path) -> str:
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * 110_000, encoding="utf-8")  # over 1 MiB characters
    return str(path)


def _latin1(tmp_path: Path) -> str:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("contract: caf\u00e9\n".encode("latin-1"))
    return str(path)


def _empty(tmp_path: Path) -> str:
    path = tmp_path / "empty.yaml"
    path.write_text("\n  \n", encoding="utf-8")
    return str(path)


_ROLLING = ["--rolling", "2"]


def test_bad_input_is_a_usage_error_naming_the_option(
    cli: Cli, calls: None, tmp_path: Path
) -> None:
    contract = tmp_path / "ok.yaml"
    contract.write_text(CONTRACT, encoding="utf-8")
    cases: list[tuple[list[str], str, str]] = [
        (["-e", "chat-api", "--route", "support"], "not both --endpoint and --route", "endpoint"),
        (["--dataset", "d", "--gateway"], "not both --dataset and --gateway", "dataset"),
        (
            ["-e", "chat-api", "--dataset", "d", "--model", "m"],
            "not --endpoint, --dataset and --model",
            "endpoint",
        ),
        (["--route", "support", "--time-column", "at"], "goes with --dataset", "time-column"),
        (
            ["--route", "support", "--reference-dataset", "calls@1"],
            "not --reference-dataset",
            "reference-dataset",
        ),
        (
            ["--gateway", "--contract", str(tmp_path / "missing.yaml")],
            "missing.yaml does not exist",
            "contract",
        ),
        (["--gateway", "--contract", str(tmp_path)], "is a directory", "contract"),
        (["--gateway", "--contract", _big(tmp_path)], "over 1,048,576 characters", "contract"),
        (["--gateway", "--contract", _latin1(tmp_path)], "is not UTF-8 text", "contract"),
        (["--gateway", "--contract", _empty(tmp_path)], "is empty", "contract"),
        (
            ["--gateway", "--contract", str(contract), "--contract-from", "payments"],
            "give --contract FILE (a YAML data contract) or --contract-from DATASET",
            "contract-from",
        ),
    ]
    for args, message, field in cases:
        extra = [] if "--reference-dataset" in args else _ROLLING
        result = cli("monitors", "create", "m", *args, *extra)
        assert result.exit_code == 2, (args, result.output)
        said = " ".join(result.stderr.replace("│", " ").split())
        assert message in said, (args, said)
        assert said.startswith("error: ") and said.endswith(f"(field: {field})"), said
    assert json.loads(cli.ok("monitors", "list", "--json").stdout) == []  # nothing made


def test_refusals_from_the_server(cli: Cli, calls: None, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("contract: x\ncolumns: {latency_ms: {min: abc}}\n", encoding="utf-8")
    unparsed = cli(
        "monitors", "create", "m", "--gateway", "--rolling", "2", "--contract", str(broken)
    )
    assert unparsed.exit_code == 1 and "the contract does not parse" in unparsed.stderr
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("contract: x\ncolumns: {zip: {nullable: false}}\n", encoding="utf-8")
    unwatched = cli(
        "monitors", "create", "m", "--gateway", "--rolling", "2", "--contract", str(elsewhere)
    )
    assert unwatched.exit_code == 1 and "none of which the monitor watches" in unwatched.stderr
    audited = cli(
        "monitors", "create", "m", "--route", "support", "--rolling", "2", "--sensitive", "segment"
    )
    assert audited.exit_code == 1 and "(field: fairness)" in audited.stderr
    quiet = cli("monitors", "create", "m", "--route", "nope", "--reference-window", at(0), at(1))
    assert quiet.exit_code == 1 and "no rows" in quiet.stderr
    assert json.loads(cli.ok("monitors", "list", "--json").stdout) == []


def test_gateway_and_contract_monitors_through_a_server(
    cli: Cli, calls: None, remote: Any, tmp_path: Path
) -> None:
    contract = tmp_path / "calls.yaml"
    contract.write_text(
        "contract: support-calls\nversion: 2\ncolumns: {latency_ms: {max: 600}}\n",
        encoding="utf-8",
    )
    cli.ok(
        "monitors",
        "create",
        "support-calls",
        "--route",
        "support",
        "--reference-window",
        at(0),
        at(1),
        "--contract",
        str(contract),
        "--no-schedule",
    )
    gated = cli(
        "monitors",
        "run",
        "support-calls",
        "--since",
        at(1),
        "--until",
        at(4),
        "--fail-on",
        "contract",
    )
    assert gated.exit_code == 3, gated.output
    assert "contract checks failed in 1 of 3 windows" in gated.stderr
    report = cli.ok("monitors", "window", "support-calls", at(3)).stdout
    assert "ok 160, error 40" in report and "Contract support-calls v2: 1 of" in report
    listed = json.loads(cli.ok("monitors", "list", "--target", "gateway", "--json").stdout)
    assert [m["name"] for m in listed] == ["support-calls"]
