"""``mloop experiments`` and ``mloop runs`` on data logged through the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.cli.cli_helpers import Cli

import mloop
from mloop.cli._common import get_client


@pytest.fixture
def logged(cli: Cli, tmp_path: Path) -> dict[str, Any]:
    """Experiment ``churn`` with three runs (one NaN metric, one artifact), ``other`` with one."""
    mloop.set_experiment("churn")
    ids = {}
    for name, auc in (("weak", 0.7), ("good", 0.85), ("best", 0.93)):
        with mloop.start_run(run_name=name, tags={"team": "risk"}) as run:
            mloop.log_params({"model": name, "lr": 0.1})
            for step in range(4):
                mloop.log_metric("loss", 1.0 / (step + 1), step=step)
            mloop.log_metric("auc", auc)
            if name == "weak":
                mloop.log_metric("odd", float("nan"))
            if name == "best":
                report = tmp_path / "report.json"
                report.write_text('{"ok": true}')
                mloop.log_artifact(report, "eval")
        ids[name] = run.info.run_id
    other = mloop.set_experiment("other")
    with mloop.start_run(run_name="elsewhere") as run:
        mloop.log_metric("auc", 0.99)
    ids["elsewhere"] = run.info.run_id
    churn = mloop.Client().get_experiment_by_name("churn")
    return {"runs": ids, "churn_id": churn.experiment_id, "other_id": other.experiment_id}


def test_experiments_list(cli: Cli, logged: dict[str, Any]) -> None:
    table = cli.ok("experiments", "list").stdout
    assert "churn" in table and "other" in table
    rows = json.loads(cli.ok("experiments", "list", "--json").stdout)
    assert {r["name"] for r in rows} >= {"churn", "other"}
    assert set(rows[0]) == {
        "experiment_id",
        "name",
        "lifecycle_stage",
        "artifact_location",
        "creation_time",
        "last_update_time",
        "tags",
    }


def test_experiments_show_by_name_and_id(cli: Cli, logged: dict[str, Any]) -> None:
    table = cli.ok("experiments", "show", "churn").stdout
    assert logged["runs"]["best"] in table
    by_name = json.loads(cli.ok("experiments", "show", "churn", "--json").stdout)
    by_id = json.loads(cli.ok("experiments", "show", logged["churn_id"], "--json").stdout)
    assert by_name["experiment_id"] == by_id["experiment_id"] == logged["churn_id"]
    assert {r["run_name"] for r in by_name["recent_runs"]} == {"weak", "good", "best"}


def test_experiments_show_unknown(cli: Cli, logged: dict[str, Any]) -> None:
    result = cli("experiments", "show", "nope")
    assert result.exit_code == 1
    assert "error: no experiment with id or name 'nope'" in result.stderr
    assert "Traceback" not in result.output


def test_runs_list_table_shows_metrics_and_params(cli: Cli, logged: dict[str, Any]) -> None:
    table = cli.ok("runs", "list", "--experiment", "churn").stdout
    for header in ("run id", "status", "duration", "metrics.auc", "metrics.loss", "params.lr"):
        assert header in table
    for name in ("weak", "good", "best"):
        assert logged["runs"][name] in table
    assert logged["runs"]["elsewhere"] not in table


def test_runs_list_json(cli: Cli, logged: dict[str, Any]) -> None:
    rows = json.loads(cli.ok("runs", "list", "--json").stdout)
    assert len(rows) == 4
    weak = next(r for r in rows if r["run_name"] == "weak")
    assert weak["metrics"]["odd"] is None  # NaN becomes null
    assert weak["params"] == {"model": "weak", "lr": "0.1"}
    assert weak["status"] == "FINISHED"
    assert weak["duration_ms"] == weak["end_time"] - weak["start_time"]


def test_runs_list_filter_and_order(cli: Cli, logged: dict[str, Any]) -> None:
    result = cli.ok(
        "runs", "list", "-e", "churn", "--filter", "metrics.auc > 0.8",
        "--order-by", "metrics.auc DESC", "--json",
    )  # fmt: skip
    assert [r["run_name"] for r in json.loads(result.stdout)] == ["best", "good"]
    limited = cli.ok("runs", "list", "-e", logged["churn_id"], "--max", "1", "--json")
    assert len(json.loads(limited.stdout)) == 1


def test_runs_list_bad_filter(cli: Cli, logged: dict[str, Any]) -> None:
    result = cli("runs", "list", "--filter", "metrics.auc >> 0.8")
    assert result.exit_code == 1
    assert "error: invalid filter" in result.stderr
    assert "position" in result.stderr and "field: filter" in result.stderr
    assert "Traceback" not in result.output


def test_runs_list_unknown_experiment(cli: Cli, logged: dict[str, Any]) -> None:
    result = cli("runs", "list", "--experiment", "missing")
    assert result.exit_code == 1
    assert "missing" in result.stderr


def test_runs_show(cli: Cli, logged: dict[str, Any]) -> None:
    run_id = logged["runs"]["best"]
    table = cli.ok("runs", "show", run_id).stdout
    for text in (run_id, "Params", "Metrics", "Tags", "team", "eval/report.json", "FINISHED"):
        assert text in table
    body = json.loads(cli.ok("runs", "show", run_id, "--json").stdout)
    assert body["run_name"] == "best"
    assert body["params"]["model"] == "best"
    assert body["metrics"]["auc"] == pytest.approx(0.93)
    assert body["metric_history"]["loss"]["count"] == 4
    assert body["metric_history"]["loss"]["last_step"] == 3
    assert [a["path"] for a in body["artifacts"]] == ["eval/report.json"]
    assert body["tags"]["team"] == "risk"


def test_runs_show_unknown(cli: Cli, logged: dict[str, Any]) -> None:
    result = cli("runs", "show", "0" * 32)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


def test_cli_talks_to_a_server(remote: Any, cli: Cli) -> None:
    mloop.set_experiment("served")
    with mloop.start_run(run_name="over-http"):
        mloop.log_metric("auc", 0.5)
    mloop.flush()
    assert get_client().tracking_uri == remote.url
    rows = json.loads(cli.ok("runs", "list", "-e", "served", "--json").stdout)
    assert [r["run_name"] for r in rows] == ["over-http"]
