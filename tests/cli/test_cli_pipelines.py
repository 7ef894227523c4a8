"""``mloop pipelines``: run (params, exit status), runs, list, show, score."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.cli.cli_helpers import Cli
from tests.pipelines.test_scoring import _frame, _train

import mloop


def test_run_prints_steps_and_exit_status(cli: Cli) -> None:
    ok = cli.ok("pipelines", "run", "tests.pipelines.flows:fan", "-p", "x=5", "-p", "n=2")
    assert "succeeded" in ok.output
    assert "double_2" in ok.output  # the step table
    assert '"total": 22' in ok.output  # 10 + 12

    failed = cli("pipelines", "run", "tests.pipelines.flows:failing", "-p", "x=3", "--workers", "1")
    assert failed.exit_code == 1
    assert "boom 3" in failed.output
    assert "skipped" in failed.output

    as_json = cli.ok("pipelines", "run", "tests.pipelines.flows:fan", "-p", "x=1", "--json")
    detail = json.loads(as_json.output)
    assert detail["status"] == "succeeded" and detail["outputs"]["total"] == 2 + 4 + 6
    assert detail["trigger"] == "cli"

    runs = cli.ok("pipelines", "runs", "--pipeline", "fan")
    assert runs.output.count("succeeded") == 2
    failures = json.loads(cli.ok("pipelines", "runs", "--status", "failed", "--json").output)
    assert [r["pipeline"] for r in failures] == ["failing"]
    listed = cli.ok("pipelines", "list")
    assert "fan" in listed.output and "failing" in listed.output

    shown = cli.ok("pipelines", "show", str(detail["id"]))
    assert "doubling 1" in shown.output  # a step's log tail
    assert "tests.pipelines.flows:fan" in shown.output


def test_run_refuses_bad_params_and_references(cli: Cli) -> None:
    bad = cli("pipelines", "run", "tests.pipelines.flows:fan", "-p", "x")
    assert bad.exit_code == 2 and "key=value" in bad.output
    typed = cli("pipelines", "run", "tests.pipelines.flows:fan", "-p", "x=five")
    assert typed.exit_code == 1 and "params.x" in typed.output
    missing = cli("pipelines", "run", "tests.pipelines.absent:nothing")
    assert missing.exit_code == 1 and "field: pipeline" in missing.output
    unknown = cli("pipelines", "show", "999")
    assert unknown.exit_code == 1
    assert cli("pipelines", "runs").output.strip() == "no pipeline runs"


@pytest.mark.usefixtures("settings")
def test_score_registers_the_output_dataset(cli: Cli) -> None:
    frame = _frame(120)
    mloop.register_dataset("customers", frame)
    _train(frame)
    result = cli.ok(
        "pipelines",
        "score",
        "--model",
        "models:/churn/1",
        "--dataset",
        "customers/1",
        "--output",
        "scores",
        "--partitions",
        "3",
        "--keep",
        "id",
        "--workers",
        "2",
    )
    assert "score_partition_3" in result.output
    assert "registered dataset scores version 1" in result.output
    scored = mloop.get_dataset("scores/1").to_pandas()
    assert isinstance(scored, pd.DataFrame) and list(scored.columns) == ["row", "id", "prediction"]

    bad = cli(
        "pipelines",
        "score",
        "--model",
        "models:/churn/1",
        "--dataset",
        "customers/1",
        "--output",
        "scores",
        "--column",
        "nope",
    )
    assert bad.exit_code == 1 and "field: columns" in bad.output
